"""The one training loop every long fit uses: jitted `lax.scan` chunks driven from Python.

Running chunks of steps from a Python loop lets a progress line update between chunks with no
host callback inside the compiled code, and keeps one compiled chunk for the whole run.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from ._validation import check_int


class MinimizeResult(NamedTuple):
    """The optimised parameters and the loss before each step."""

    params: Any
    losses: np.ndarray


def minimize(
    loss_fn: Callable[[Any], jax.Array],
    params: Any,
    *,
    optimizer: optax.GradientTransformation,
    num_steps: int,
    chunk_size: int = 100,
    progress: bool = False,
    description: str = "minimize",
) -> MinimizeResult:
    """Minimise `loss_fn(params)` with `optimizer` for `num_steps` steps.

    **Arguments:**

    - `loss_fn`: scalar loss of a pytree of parameters; closed-over data stay constants.
    - `params`: initial parameters (any pytree; non-array leaves are held static).
    - `optimizer`: an optax gradient transformation.
    - `num_steps`: total number of steps.
    - `chunk_size`: steps per compiled `lax.scan` chunk.
    - `progress`: print a progress line to stderr after each chunk.
    - `description`: the label of the progress line.

    **Returns:** a [`MinimizeResult`][jaxkern._optim.MinimizeResult].
    """
    check_int("num_steps", num_steps, 0)
    check_int("chunk_size", chunk_size, 1)
    dynamic, static = eqx.partition(params, eqx.is_array)
    opt_state = optimizer.init(dynamic)

    def step(carry, _):
        dynamic, opt_state = carry
        loss, grads = jax.value_and_grad(lambda p: loss_fn(eqx.combine(p, static)))(dynamic)
        # optax mixes int step counts with float decays; keep it working for callers who set
        # strict dtype promotion (as jaxkern's own tests do).
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = optimizer.update(grads, opt_state, dynamic)
        return (optax.apply_updates(dynamic, updates), opt_state), loss

    @eqx.filter_jit
    def run_chunk(dynamic, opt_state, length):
        return lax.scan(step, (dynamic, opt_state), None, length=length)

    (dynamic, _), losses = run_chunks(
        lambda carry, length: run_chunk(*carry, length), (dynamic, opt_state),
        num_steps=num_steps, chunk_size=chunk_size, progress=progress, description=description,
    )
    return MinimizeResult(eqx.combine(dynamic, static), losses)


def run_chunks(
    run_chunk: Callable[[Any, int], tuple[Any, jax.Array]],
    carry: Any,
    *,
    num_steps: int,
    chunk_size: int,
    progress: bool,
    description: str,
    converged: Callable[[Any], bool] = lambda carry: False,
) -> tuple[Any, np.ndarray]:
    """Drive `run_chunk(carry, length) -> (carry, losses)` over `num_steps` steps in chunks.

    Stops early once `converged(carry)` holds after a chunk. Returns the last carry and the
    losses of all steps taken; with `progress`, a line on stderr is rewritten after each chunk.
    """
    losses, done, start = [], 0, time.perf_counter()
    while done < num_steps and not (losses and converged(carry)):
        length = min(chunk_size, num_steps - done)
        carry, chunk_losses = run_chunk(carry, length)
        losses.append(np.asarray(chunk_losses))
        done += length
        if progress:
            print(
                f"\r{description}: step {done}/{num_steps}  loss {float(chunk_losses[-1]):.8g}"
                f"  {time.perf_counter() - start:.1f}s",
                end="",
                file=sys.stderr,
                flush=True,
            )
    if progress and losses:
        print(file=sys.stderr)
    return carry, np.concatenate(losses) if losses else np.zeros((0,))


def log_transform(tree: Any, filter_spec: Any = eqx.is_inexact_array) -> tuple[Any, Any]:
    """Split `tree` into log-parameters (the leaves `filter_spec` selects) and the rest.

    Raises `ValueError` naming the leaf if a selected leaf is not positive.
    """
    trainable, frozen = eqx.partition(tree, filter_spec)
    for path, leaf in jax.tree_util.tree_leaves_with_path(trainable):
        if not bool(jnp.all(leaf > 0)):
            raise ValueError(
                f"hyperparameter {jax.tree_util.keystr(path)} must be positive to be fitted on "
                f"a log scale, got {leaf}; freeze it with `trainable` or start it above zero."
            )
    return jax.tree.map(jnp.log, trainable), frozen


def exp_transform(log_params: Any, frozen: Any) -> Any:
    """Inverse of [`log_transform`][jaxkern._optim.log_transform]."""
    return eqx.combine(jax.tree.map(jnp.exp, log_params), frozen)
