"""The one optimisation loop every fit in jaxkern uses: jitted `lax.scan` chunks from Python.

Running chunks of steps from a Python loop lets a progress line update between chunks with no
host callback inside the compiled code, lets a fit stop early between chunks, and keeps one
compiled chunk for the whole run (arguments that change between chunks are traced inputs).
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from .._validation import check_int

Accept = Callable[[jax.Array, jax.Array, Any], jax.Array]


class OptimResult(NamedTuple):
    """What [`minimize`][jaxkern.optim.minimize] returns; every fit's result has the last four
    fields under the same names."""

    params: Any
    """The optimised parameters, the same pytree as the initial ones."""
    losses: np.ndarray
    """The loss before each step taken, as NumPy, shape (num_steps,)."""
    num_steps: int
    """Steps taken (fewer than asked for when the fit stopped early)."""
    converged: bool
    """Whether the fit stopped early because it stopped making progress (see `message`)."""
    message: str
    """Why the fit stopped: ``"num_steps reached"``, ``"tol reached"`` or
    ``"no step accepted"``."""
    aux: Any = None
    """The auxiliary state after the last step (`None` unless `minimize` was given `aux`)."""


def decrease(loss: jax.Array, new_loss: jax.Array, new_params: Any) -> jax.Array:
    """Accept a step only if it lowers the loss and leaves loss and parameters finite.

    The `accept` rule for monotone fits: a failed line search takes its last trial step
    whatever its value, and parameters where a factorisation fails give NaN.
    """
    finite = [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(new_params)]
    return jnp.isfinite(new_loss) & (new_loss <= loss) & jnp.all(jnp.stack(finite))


def minimize(
    loss_fn: Callable[..., jax.Array],
    params: Any,
    *,
    optimizer: optax.GradientTransformation,
    num_steps: int,
    args: Sequence[Any] = (),
    aux: Any = None,
    update_args: Callable[[Any, tuple], tuple] | None = None,
    accept: Accept | Literal["decrease"] | None = None,
    tol: float | None = None,
    chunk_size: int = 100,
    progress: bool | None = None,
    description: str = "minimize",
) -> OptimResult:
    r"""Minimise `loss_fn(params, *args)` with any optax transformation, in compiled chunks.

    Runs `num_steps` steps of `optimizer` as jitted `lax.scan` chunks of `chunk_size` steps.
    L-BFGS and other transformations that take extra arguments (`optax.lbfgs()`, with its
    line search) get the value, gradient and `value_fn` they need, and reuse the value and
    gradient that the line search already computed.

    Between chunks (never inside the compiled code) the loop can

    - stop early: after a chunk whose loss moved by at most `tol` relative to
      $\max(1, |\text{loss}|)$, or in which `accept` refused every step;
    - refresh `args` with `update_args(params, args)`, e.g. the warm start of an inner solve
      (they are traced inputs of the chunk, so nothing recompiles);
    - update a progress bar (rate and time left; see `progress`).

    With `aux`, state travels explicitly from each step to the next inside the compiled loop:
    `loss_fn(params, aux, *args)` returns `(loss, new_aux)`, and the `new_aux` of the
    evaluation at step $j$'s parameters is the `aux` of step $j + 1$ (never differentiated).
    An inner iterative solve can so start from its previous solution (as `gp.fit` does with
    its CG solves), or count its work. With `aux`, each step evaluates `loss_fn` at its own
    parameters, so that `aux` advances: a line search's value and gradient at the new point
    (L-BFGS) are not reused, which costs one more evaluation per step there; the line
    search's own evaluations see the step's `aux` and their `new_aux` is dropped.

    With `accept`, a step whose `accept(loss, new_loss, new_params)` is false is refused:
    the parameters stay and the optimiser's state is reset (an L-BFGS memory built on a
    refused step would mislead the next ones). `accept="decrease"` is
    [`decrease`][jaxkern.optim.decrease]: monotone steps only.

    **Arguments:**

    - `loss_fn`: scalar loss of the parameters (and of `args`); closed-over data stay constants.
    - `params`: initial parameters, any pytree; its non-array leaves are held static.
    - `optimizer`: an optax `GradientTransformation` (`optax.adam(0.05)`, `optax.lbfgs()`, ...).
    - `num_steps`: the most steps to take (0 returns `params` unchanged).
    - `args`: extra arguments of `loss_fn`, not differentiated.
    - `aux`: initial auxiliary state, a pytree of arrays whose structure, shapes and dtypes
      `loss_fn` keeps; `None` (default) for a plain `loss_fn(params, *args) -> loss`.
    - `update_args`: `update_args(params, args) -> args`, run after each chunk.
    - `accept`: `None` (every step taken), `"decrease"`, or a jittable rule.
    - `tol`: relative change of the loss over a chunk at which to stop; `None` never stops.
    - `chunk_size`: steps per compiled chunk.
    - `progress`: `True` shows a progress bar (tqdm: stderr in a terminal, a widget in a
      notebook) updated after each chunk; `False` is silent; `None` (default) shows one only
      in a terminal or notebook, and only once the fit has run for two seconds.
    - `description`: the label of the progress bar.

    **Returns:** an [`OptimResult`][jaxkern.optim.OptimResult].

    Example:
        >>> import jax.numpy as jnp, optax
        >>> from jaxkern.optim import minimize
        >>> result = minimize(lambda p: jnp.sum((p - 3.0) ** 2), jnp.zeros(2),
        ...                   optimizer=optax.lbfgs(), num_steps=50, tol=1e-6)
        >>> [round(v, 4) for v in result.params.tolist()], result.converged
        ([3.0, 3.0], True)
        >>> def counted(p, calls):  # state carried through the compiled steps
        ...     return jnp.sum((p - 3.0) ** 2), calls + 1
        >>> result = minimize(counted, jnp.zeros(2), aux=jnp.zeros((), jnp.int32),
        ...                   optimizer=optax.adam(0.5), num_steps=20)
        >>> int(result.aux)
        20
    """
    check_int("num_steps", num_steps, 0)
    check_int("chunk_size", chunk_size, 1)
    if not isinstance(optimizer, optax.GradientTransformation):
        raise ValueError(
            f"`optimizer` must be an optax GradientTransformation, got {type(optimizer).__name__}."
        )
    if accept == "decrease":
        accept = decrease
    elif accept is not None and not callable(accept):
        raise ValueError(f"`accept` must be None, 'decrease' or a callable, got {accept!r}.")
    if tol is not None and not tol >= 0:
        raise ValueError(f"`tol` must be None or >= 0, got {tol!r}.")
    optimizer = optax.with_extra_args_support(optimizer)
    dynamic, static = eqx.partition(params, eqx.is_array)
    # Strongly typed from the start: optax's L-BFGS starts its line-search record with weakly
    # typed scalars that the first step makes strong, and that change of input types
    # compiled the second chunk again (8 s of a 40-point pde.solve's 33 s).
    opt_state = jax.tree.map(
        lambda a: jnp.asarray(a, a.dtype) if getattr(a, "weak_type", False) else a,
        optimizer.init(dynamic),
    )
    has_aux = aux is not None
    if not has_aux:
        plain = loss_fn
        loss_fn = lambda params, aux, *args: (plain(params, *args), aux)  # noqa: E731
    run_chunk = _chunk_runner(loss_fn, static, optimizer, accept, tol, has_aux)

    bar = ProgressBar(description, num_steps, progress)
    losses, done = [], 0
    message = "num_steps reached"
    args = tuple(args)
    while done < num_steps:
        length = min(chunk_size, num_steps - done)
        dynamic, opt_state, aux, chunk_losses, taken, any_accepted, reached_tol = run_chunk(
            dynamic, opt_state, aux, args, length
        )
        chunk_losses = np.asarray(chunk_losses)[: int(taken)]
        losses.append(chunk_losses)
        done += length
        if update_args is not None:
            args = tuple(update_args(eqx.combine(dynamic, static), args))
        bar.update(done, chunk_losses[-1] if chunk_losses.size else np.nan)
        if bool(reached_tol):
            message = "tol reached"
            break
        if not bool(any_accepted):
            message = "no step accepted"
            break
    bar.close()
    losses = np.concatenate(losses) if losses else np.zeros((0,))
    return OptimResult(
        eqx.combine(dynamic, static), losses, int(losses.shape[0]),
        message != "num_steps reached", message, aux,
    )


def _interactive() -> bool:
    """Whether a person is watching: stderr is a terminal, or this runs in a Jupyter kernel."""
    if "ipykernel" in sys.modules:
        return True
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


class ProgressBar:
    """A tqdm bar over optimiser steps, updated from Python between compiled chunks.

    `enabled=None` opens the bar only when someone is watching and the work has already taken
    two seconds (short fits stay quiet); `True` opens it at the first update; `False` never.
    No host callback runs inside compiled code: `update` is called between chunks.
    """

    def __init__(self, description: str, total: int, enabled: bool | None):
        self.description, self.total, self.enabled = description, total, enabled
        self.start, self.bar, self.done = time.perf_counter(), None, 0

    def update(self, done: int, loss: float) -> None:
        if self.bar is None:
            wanted = self.enabled or (
                self.enabled is None and _interactive()
                and time.perf_counter() - self.start > 2.0 and done < self.total
            )
            if not wanted:
                self.done = done
                return
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.total, desc=self.description, unit="step",
                            initial=self.done, file=sys.stderr, dynamic_ncols=True)
        self.bar.update(done - self.done)
        self.bar.set_postfix(loss=f"{float(loss):.8g}", refresh=True)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _chunk_runner(loss_fn, static, optimizer, accept, tol, has_aux):
    """A jitted `run(dynamic, opt_state, aux, args, length)` of at most `length` optimiser steps.

    `loss_fn(params, aux, *args)` returns `(loss, aux)`. Returns the new parameters, state
    and aux, the loss before each step (padded past the steps
    taken), how many steps it took, whether any step was accepted, and whether `tol` was met:
    once two successive losses differ by at most `tol` relative, the remaining steps of the
    chunk do nothing.
    """

    def step(carry, args):
        dynamic, state, aux, previous, _ = carry

        def value_and_aux(p):
            return loss_fn(eqx.combine(p, static), aux, *args)

        def value_fn(p):
            return value_and_aux(p)[0]

        # L-BFGS's line search leaves the value and gradient at the new point in its state
        # (not reused with aux: the step's own evaluation advances aux).
        if not has_aux and optax.tree_utils.tree_get(state, "value", None) is not None:
            value, grad = optax.value_and_grad_from_state(value_fn)(dynamic, state=state)
        else:
            (value, aux), grad = jax.value_and_grad(value_and_aux, has_aux=True)(dynamic)
        settled = jnp.asarray(False)
        if tol is not None:
            scale = jnp.maximum(1, jnp.abs(value))
            settled = jnp.isfinite(value) & (jnp.abs(previous - value) <= tol * scale)
        # optax mixes int step counts with float decays; keep it working for callers who set
        # strict dtype promotion (as jaxkern's own tests do).
        with jax.numpy_dtype_promotion("standard"):
            updates, new_state = optimizer.update(
                grad, state, dynamic, value=value, grad=grad, value_fn=value_fn
            )
        new_dynamic = optax.apply_updates(dynamic, updates)
        ok = ~settled
        if accept is not None:
            new_value = optax.tree_utils.tree_get(new_state, "value", None)
            if new_value is None:
                new_value = value_fn(new_dynamic)
            ok &= accept(value, new_value, eqx.combine(new_dynamic, static))
        keep = functools.partial(jax.tree.map, lambda a, b: jnp.where(ok, a, b))
        reset = optimizer.init(dynamic) if accept is not None else state
        carry = (keep(new_dynamic, dynamic), keep(new_state, reset), aux, value, settled)
        return carry, (value, ok, jnp.asarray(True))

    def maybe_step(carry, _, args):
        # After `tol` is met the rest of the chunk is skipped (lax.cond runs one branch).
        def skip(c):
            return c, (jnp.full_like(c[3], jnp.nan), jnp.asarray(False), jnp.asarray(False))

        return lax.cond(carry[4], skip, lambda c: step(c, args), carry)

    @eqx.filter_jit
    def run(dynamic, opt_state, aux, args, length):
        loss_type, _ = jax.eval_shape(lambda p: loss_fn(eqx.combine(p, static), aux, *args),
                                      dynamic)
        start = jnp.full(loss_type.shape, jnp.inf, loss_type.dtype)
        carry = (dynamic, opt_state, aux, start, jnp.asarray(False))
        (dynamic, opt_state, aux, _, settled), (losses, ok, active) = lax.scan(
            functools.partial(maybe_step, args=args), carry, None, length=length
        )
        return dynamic, opt_state, aux, losses, jnp.sum(active), jnp.any(ok), settled

    return run
