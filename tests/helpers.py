"""Tolerances keyed by dtype, and small builders shared by the tests."""

from __future__ import annotations

import functools

import equinox as eqx
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
    """`np.testing.assert_allclose` with the tolerance of this run's dtype (complex kept)."""
    actual, desired = np.asarray(actual), np.asarray(desired)
    wide = np.complex128 if np.iscomplexobj(actual) or np.iscomplexobj(desired) else np.float64
    np.testing.assert_allclose(
        actual.astype(wide),
        desired.astype(wide),
        rtol=tol(rtol64, rtol32),
        atol=atol64 if X64 else atol32,
    )


def points(key, n: int, d: int, scale: float = 1.0) -> jax.Array:
    """n standard-normal points in d dimensions, in this run's float dtype."""
    return scale * jax.random.normal(key, (n, d), dtype=FLOAT)


def grad_check_eps() -> float:
    """Finite-difference step for `jax.test_util.check_grads` in this run's dtype."""
    return 1e-6 if X64 else 1e-2


def _traced(x) -> bool:
    """The leaves `jax.jit` traces (arrays and Python numbers); any other leaf stays static."""
    return isinstance(x, (jax.Array, np.ndarray, np.generic, bool, int, float, complex))


def _differentiable(x) -> bool:
    """Float or complex arrays and Python floats: what the gradient check perturbs."""
    return eqx.is_inexact_array(x) or (isinstance(x, (float, complex)) and not isinstance(x, bool))


def _as_numpy(x):
    if jnp.issubdtype(jnp.result_type(x), jax.dtypes.prng_key):
        x = jax.random.key_data(x)
    return np.asarray(x)


def _assert_same(actual, desired, what: str, **close) -> None:
    """Same pytree structure, shapes and dtypes, and values to the dtype's tolerance."""
    assert jax.tree.structure(actual) == jax.tree.structure(desired), (
        f"{what}: output structures differ: {jax.tree.structure(actual)} vs "
        f"{jax.tree.structure(desired)}"
    )
    paths = jax.tree_util.tree_flatten_with_path(actual)[0]
    for (path, a), d in zip(paths, jax.tree.leaves(desired)):
        where = f"{what}, output{jax.tree_util.keystr(path)}"
        a, d = _as_numpy(a), _as_numpy(d)
        assert a.shape == d.shape and a.dtype == d.dtype, (
            f"{where}: got {a.dtype}{a.shape}, expected {d.dtype}{d.shape}"
        )
        try:
            assert_close(a, d, **close)
        except AssertionError as error:
            raise AssertionError(f"{where}: {error}") from None


def _inner(xs, ys) -> float:
    """Sum over leaves of Re <x, y>, in float64 / complex128."""
    return sum(float(np.real(np.vdot(np.asarray(x).astype(np.complex128).ravel(),
                                     np.asarray(y).astype(np.complex128).ravel())))
               for x, y in zip(jax.tree.leaves(xs), jax.tree.leaves(ys)))


def _check_first_order(primal, of_free, free, *, modes, tolerance) -> None:
    """`jax.test_util.check_grads(of_free, free, order=1)` with fewer compilations.

    The same test -- central differences along a random tangent, compared with the JVP
    (elementwise) and the VJP (projected on a random cotangent) -- but the differences reuse the
    compiled `primal`, and the VJP and JVP are one jitted function each (check_grads compiles a
    fresh forward pass and a split forward/backward pair for `jax.vjp` of a jitted function).
    """
    rng = np.random.RandomState(0)

    def rand(x):
        r = rng.standard_normal(np.shape(x))
        if jnp.iscomplexobj(x):
            r = r + 1j * rng.standard_normal(np.shape(x))
        return jnp.asarray(r, dtype=jnp.result_type(x))

    eps = grad_check_eps()
    tangent = jax.tree.map(rand, free)
    cotangent = jax.tree.map(rand, primal(free))
    shifted = [primal(jax.tree.map(lambda x, t, s=s: x + s * eps * t, free, tangent))
               for s in (1.0, -1.0)]
    numerical = jax.tree.map(lambda p, m: (p - m) * (0.5 / eps), *shifted)
    if "fwd" in modes:
        jvp = jax.jit(lambda f, t: jax.jvp(of_free, f, t)[1])(free, tangent)
        for got, want in zip(jax.tree.leaves(jvp), jax.tree.leaves(numerical)):
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=tolerance,
                                       atol=tolerance, err_msg="JVP vs finite differences")
    if "rev" in modes:
        conj = functools.partial(jax.tree.map, jnp.conj)
        vjp = jax.jit(lambda f, c: jax.vjp(of_free, *f)[1](c))(free, conj(cotangent))
        np.testing.assert_allclose(_inner(tangent, conj(vjp)), _inner(numerical, cotangent),
                                   rtol=tolerance, atol=tolerance,
                                   err_msg="VJP vs finite differences (projected)")


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
    grad_rtol64: float = 1e-5,
    grad_order: int = 1,
    grad_modes: tuple[str, ...] = ("rev",),
    kwargs: dict | None = None,
    finite: bool = True,
) -> None:
    """The one transform test: jit = eager, vmap = a loop, grad = finite differences.

    - `fn(*args)` under `jax.jit` equals the eager call (same pytree structure, shapes and
      dtypes; values to the dtype's tolerance; complex outputs compare as complex);
    - with `batch` (the arguments with a leading batch axis where `in_axes` says; `None`
      leaves an argument unbatched), `jax.vmap(fn, in_axes)(*batch)` equals the stacked calls
      on each slice (calls of the jitted `fn` checked above, or eager calls where the slices'
      non-array leaves differ from those of `args`);
    - the gradient with respect to the arguments in `grad_argnums` (None: skip) agrees with
      central finite differences along a random direction (the test of
      `jax.test_util.check_grads`, compiled; the step is `grad_check_eps()`; `grad_order` and
      `grad_modes` as there; tolerance `grad_rtol64` / `grad_rtol32`, relative and absolute).

    Arguments may be pytrees (e.g. equinox modules): their array and Python-number leaves are
    traced, other leaves (functions, strings) are held static, and only the float/complex
    leaves of the `grad_argnums` arguments are perturbed. Only the float/complex leaves of the
    output are differentiated (integer outputs are still compared under jit and vmap).
    `kwargs` are keyword arguments passed unchanged to every call (static: neither traced,
    batched nor differentiated), e.g. `kwargs=dict(lmax=2)`. The eager output must be finite
    (a NaN compares equal to itself and would hide a broken transform); `finite=False` lifts
    that for functions whose value at the test point is legitimately inf or NaN.
    """
    if kwargs:
        fn = functools.partial(fn, **kwargs)
    close = dict(rtol64=rtol64, rtol32=rtol32, atol64=atol64, atol32=atol32)
    eager = fn(*args)
    if finite:
        for leaf in jax.tree.leaves(eager):
            if eqx.is_inexact_array(leaf):
                assert np.all(np.isfinite(np.asarray(leaf))), f"eager output not finite: {leaf}"
    dynamic, static = eqx.partition(tuple(args), _traced)
    jitted = jax.jit(lambda *d: fn(*eqx.combine(d, static)))
    _assert_same(jitted(*dynamic), eager, "jit vs eager", **close)
    if batch is not None:
        axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(batch)
        assert len(axes) == len(batch), "`in_axes` needs one entry per argument of `batch`"
        size = next(leaf.shape[ax] for b, ax in zip(batch, axes) if ax is not None
                    for leaf in jax.tree.leaves(b) if isinstance(leaf, (jax.Array, np.ndarray)))

        def take(arg, ax, i):
            if ax is None:
                return arg
            return jax.tree.map(
                lambda a: jnp.take(a, i, axis=ax) if isinstance(a, (jax.Array, np.ndarray)) else a,
                arg)

        batch_dynamic, batch_static = eqx.partition(tuple(batch), _traced)
        # The loop runs the function compiled for the jit check (just compared with the eager
        # call) when the slices have the arguments' static parts: an eager loop of a large
        # function costs more than the whole check otherwise.
        reuse = eqx.tree_equal(batch_static, static) is True

        def call(sliced):
            return jitted(*eqx.partition(sliced, _traced)[0]) if reuse else fn(*sliced)

        looped = [call(tuple(take(b, ax, i) for b, ax in zip(batch, axes))) for i in range(size)]
        stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *looped)
        mapped = jax.jit(jax.vmap(lambda *d: fn(*eqx.combine(d, batch_static)), in_axes=axes))(
            *batch_dynamic)
        _assert_same(mapped, stacked, "vmap vs loop", **close)
    if grad_argnums:
        free, held = eqx.partition(tuple(args[i] for i in grad_argnums), _differentiable)
        free = jax.tree.map(jnp.asarray, free)  # Python floats become arrays of their dtype
        if not jax.tree.leaves(free):
            return

        def with_free(free) -> tuple:
            full = list(args)
            for i, arg in zip(grad_argnums, eqx.combine(free, held)):
                full[i] = arg
            return tuple(full)

        def inexact(out) -> tuple:
            return tuple(leaf for leaf in jax.tree.leaves(out) if eqx.is_inexact_array(leaf))

        def of_free(*free):
            return inexact(fn(*with_free(free)))

        tolerance = grad_rtol64 if X64 else grad_rtol32
        if grad_order == 1 and set(grad_modes) <= {"fwd", "rev"}:
            # The finite differences run through the function compiled for the jit check.
            primal = lambda free: inexact(jitted(*eqx.partition(with_free(free), _traced)[0]))
            _check_first_order(primal, of_free, free, modes=grad_modes, tolerance=tolerance)
        else:
            from jax.test_util import check_grads

            check_grads(jax.jit(of_free), free, order=grad_order, modes=grad_modes,
                        eps=grad_check_eps(), atol=tolerance, rtol=tolerance)


def count_compiles(fn, **jit_kwargs):
    """`jax.jit(fn, **jit_kwargs)` and a function returning how many times it has been traced.

    For no-recompile checks: call the jitted function on inputs that should share one
    compilation (padding, cached tables) and assert the count stays at 1.
    """
    traces = []

    def traced(*args, **kwargs):
        traces.append(None)
        return fn(*args, **kwargs)

    return jax.jit(traced, **jit_kwargs), lambda: len(traces)


def run_on_eight_host_devices(script: str, *, timeout: float = 300) -> None:
    """Run `script` in a fresh Python with 8 forced CPU devices and this run's precision; it
    must print "ok" last. (The device count is fixed when the backend starts, so sharding tests
    need a process of their own.)"""
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
               JAX_ENABLE_X64="1" if X64 else "0", JAX_PLATFORMS="cpu",
               PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=timeout)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]
