"""Tolerances keyed by dtype, and small builders shared by the tests."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

#: The float dtype of this run: float64 under JAX_ENABLE_X64=1, else float32.
FLOAT = jnp.result_type(float)
X64 = FLOAT == jnp.float64

#: Default relative tolerances for computations that should agree to rounding.
RTOL = {jnp.dtype("float32"): 1e-5, jnp.dtype("float64"): 1e-12}


def tol(rtol64: float = 1e-12, rtol32: float = 1e-5) -> float:
    """The tolerance for this run's dtype."""
    return rtol64 if X64 else rtol32


def assert_close(actual, desired, *, rtol64=1e-12, rtol32=1e-5, atol64=0.0, atol32=0.0):
    """`np.testing.assert_allclose` with the tolerance of this run's dtype."""
    np.testing.assert_allclose(
        np.asarray(actual, dtype=np.float64),
        np.asarray(desired, dtype=np.float64),
        rtol=tol(rtol64, rtol32),
        atol=atol64 if X64 else atol32,
    )


def points(key, n: int, d: int, scale: float = 1.0) -> jax.Array:
    """n standard-normal points in d dimensions, in this run's float dtype."""
    return scale * jax.random.normal(key, (n, d), dtype=FLOAT)


def grad_check_eps() -> float:
    """Finite-difference step for `jax.test_util.check_grads` in this run's dtype."""
    return 1e-6 if X64 else 1e-2


def check_transforms(
    fn,
    args: tuple,
    *,
    batch: tuple | None = None,
    in_axes=0,
    grad_argnums: tuple[int, ...] | None = (0,),
    rtol64: float = 1e-12,
    rtol32: float = 1e-5,
    atol64: float = 0.0,
    atol32: float = 0.0,
    grad_rtol32: float = 5e-2,
) -> None:
    """The one transform test: jit = eager, vmap = a loop, grad = finite differences.

    - `fn(*args)` under `jax.jit` equals the eager call (to the dtype's tolerance);
    - with `batch` (the arguments with a leading batch axis where `in_axes` says),
      `jax.vmap(fn, in_axes)(*batch)` equals the stacked calls on each slice;
    - the reverse-mode gradient with respect to the arguments in `grad_argnums` (None: skip)
      agrees with central finite differences (`jax.test_util.check_grads`, jitted so it runs
      at compiled speed; the step is `grad_check_eps()`).
    """
    from jax.test_util import check_grads

    close = dict(rtol64=rtol64, rtol32=rtol32, atol64=atol64, atol32=atol32)
    eager = fn(*args)
    jitted = jax.jit(fn)
    jax.tree.map(lambda a, b: assert_close(a, b, **close), jitted(*args), eager)
    if batch is not None:
        axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(batch)
        size = next(b.shape[ax] for b, ax in zip(batch, axes) if ax is not None)
        looped = [
            fn(*(b if ax is None else jnp.take(b, i, axis=ax) for b, ax in zip(batch, axes)))
            for i in range(size)
        ]
        stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *looped)
        mapped = jax.jit(jax.vmap(fn, in_axes=axes))(*batch)
        jax.tree.map(lambda a, b: assert_close(a, b, **close), mapped, stacked)
    if grad_argnums:
        fixed = dict(enumerate(args))

        def of_free(*free):
            full = dict(fixed)
            full.update(zip(grad_argnums, free))
            return fn(*(full[i] for i in range(len(args))))

        tolerance = 1e-5 if X64 else grad_rtol32
        check_grads(jax.jit(of_free), tuple(args[i] for i in grad_argnums), order=1,
                    modes=("rev",), eps=grad_check_eps(), atol=tolerance, rtol=tolerance)


def count_compiles(fn):
    """`jax.jit(fn)` and a function returning how many times it has been traced so far.

    For no-recompile checks: call the jitted function on inputs that should share one
    compilation (padding, cached tables) and assert the count stays at 1.
    """
    traces = []

    def traced(*args, **kwargs):
        traces.append(None)
        return fn(*args, **kwargs)

    return jax.jit(traced), lambda: len(traces)
