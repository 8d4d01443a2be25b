"""Argument checks shared by every domain.

Shape checks run at trace time and raise ``ValueError`` naming the argument. Value checks
(positivity) run only where the value is concrete -- a Python number, a NumPy array or a jax
array outside a trace -- so that the same functions stay traceable and differentiable.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "as_parameter",
    "check_int",
    "check_ndim",
    "check_per_dim",
    "check_positive",
    "check_same_last_dim",
    "check_length",
    "check_finite",
    "as_float",
    "concrete_or_none",
    "default_jitter",
    "Float32PrecisionWarning",
    "warn_float32",
]


def concrete_or_none(value) -> np.ndarray | None:
    """The value as a NumPy array when it is known at trace time, else ``None``."""
    if isinstance(value, jax.core.Tracer):
        return None
    try:
        return np.asarray(value)
    except (TypeError, jax.errors.ConcretizationTypeError):
        return None


def check_positive(name: str, value, *, allow_zero: bool = False) -> None:
    """Raise ``ValueError`` if a concrete ``value`` has an entry that is not > 0 (or >= 0)."""
    arr = concrete_or_none(value)
    if arr is None:
        return
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"`{name}` must be numeric, got dtype {arr.dtype}.")
    bad = ~(arr >= 0) if allow_zero else ~(arr > 0)
    if np.any(bad):
        need = "non-negative" if allow_zero else "positive"
        raise ValueError(f"`{name}` must be {need}, got {value!r}.")


def check_int(name: str, value, minimum: int) -> None:
    """Raise ``ValueError`` unless ``value`` is a Python int (not a bool), at least ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"`{name}` must be an int >= {minimum}, got {value!r}.")


def check_ndim(name: str, x, ndim: int, shape_doc: str) -> None:
    """Raise ``ValueError`` unless ``x`` has ``ndim`` axes; ``shape_doc`` names them."""
    if jnp.ndim(x) != ndim:
        raise ValueError(
            f"`{name}` must be {ndim}-D with shape {shape_doc}, got shape {jnp.shape(x)}."
        )


def check_same_last_dim(name_a: str, a, name_b: str, b) -> None:
    """Raise ``ValueError`` if two point sets have different feature dimensions."""
    if jnp.shape(a)[-1] != jnp.shape(b)[-1]:
        raise ValueError(
            f"`{name_a}` and `{name_b}` must have the same feature dimension, got shapes "
            f"{jnp.shape(a)} and {jnp.shape(b)}."
        )


def check_per_dim(name: str, value, shape: tuple[int, ...], of: str = "`x`") -> None:
    """Raise ``ValueError`` unless a per-dimension parameter fits inputs of ``shape`` (..., d).

    ``value`` (an ARD lengthscale, a period) must be a scalar, shape (1,) (which broadcasts
    like a scalar) or shape (d,): any other length would broadcast into a different kernel.
    ``shape`` () counts as d = 1; ``of`` names the inputs in the message. Only shapes are
    read, so the check runs at trace time.
    """
    got = jnp.shape(value)
    d = shape[-1] if shape else 1
    if len(got) > 1 or (len(got) == 1 and got[0] not in (1, d)):
        raise ValueError(
            f"`{name}` must be a scalar or have shape ({d},), one entry per dimension of "
            f"{of} (shape {tuple(shape)}), got shape {got}."
        )


def check_length(name: str, x, length: int, what: str) -> None:
    """Raise ``ValueError`` unless ``x`` has ``length`` entries along its first axis."""
    if jnp.ndim(x) == 0 or jnp.shape(x)[0] != length:
        raise ValueError(
            f"`{name}` must have {length} entries along its first axis ({what}), "
            f"got shape {jnp.shape(x)}."
        )


def check_finite(name: str, x) -> None:
    """Raise ``ValueError`` if a concrete ``x`` has a NaN or inf entry (no-op under a trace)."""
    arr = concrete_or_none(x)
    if arr is None or not np.issubdtype(arr.dtype, np.inexact):
        return
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0].tolist()
        raise ValueError(
            f"`{name}` must be finite, got a NaN or infinite entry at index {bad}."
        )


def as_float(*xs):
    """The arrays promoted to one common floating dtype (integers and bools to the default float).

    Integer data would otherwise be integer-divided or rounded in kernels and solvers, and a
    float32/float64 mix would follow JAX's promotion unevenly; this makes both explicit.
    """
    arrays = [jnp.asarray(x) for x in xs]
    dtype = jnp.result_type(float)
    floats = [a.dtype for a in arrays if jnp.issubdtype(a.dtype, jnp.inexact)]
    if floats:  # the widest (complex before real): promote_types is refused in strict mode
        dtype = max(floats, key=lambda d: (jnp.issubdtype(d, jnp.complexfloating), d.itemsize))
    out = tuple(a.astype(dtype) if a.dtype != dtype else a for a in arrays)
    return out[0] if len(out) == 1 else out


def default_jitter(dtype) -> float:
    """Diagonal jitter added before a Cholesky when the caller gives none.

    Scaled to the dtype's precision: about sqrt(eps) relative to a unit diagonal in float32,
    and 1e-10 in float64, which leaves float64 results unchanged to about 1e-8.
    """
    return 1e-6 if jnp.finfo(dtype).bits <= 32 else 1e-10


def as_parameter(name: str, value, *, allow_zero: bool = False, real: bool = False) -> jax.Array:
    """Check a hyperparameter and store it as a floating jax array (default dtype for numbers).

    Positive unless `allow_zero` (non-negative) or `real` (any finite value).
    """
    if real:
        arr = concrete_or_none(value)
        if arr is not None and not np.all(np.isfinite(arr)):
            raise ValueError(f"`{name}` must be finite, got {value!r}.")
    else:
        check_positive(name, value, allow_zero=allow_zero)
    if isinstance(value, jax.Array) and jnp.issubdtype(value.dtype, jnp.floating):
        return value
    # Python numbers and integer arrays become strongly typed arrays of the default float dtype.
    dtype = getattr(value, "dtype", None)
    if dtype is None or not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.result_type(float)
    return jnp.asarray(value, dtype=dtype)


class Float32PrecisionWarning(UserWarning):
    """A computation that needs float64 for its stated accuracy is running in float32."""


def _user_stacklevel() -> int:
    """The `stacklevel` that points a warning at the first frame outside jaxkern and equinox.

    Public functions call each other and equinox wraps module methods, so a fixed stacklevel
    would name a library line instead of the user's.
    """
    import sys

    frame, level = sys._getframe(2), 2  # the warn_* helper's caller, its stacklevel 2
    while frame is not None and frame.f_globals.get("__name__", "").partition(".")[0] in (
        "jaxkern", "equinox"
    ):
        frame, level = frame.f_back, level + 1
    return level


def warn_float32(what: str, consequence: str,
                 category: type[Warning] = Float32PrecisionWarning) -> None:
    """Warn that `what` runs in float32 and what that costs; the advice is the same everywhere."""
    import warnings

    warnings.warn(
        f"{what} in float32: {consequence}; set JAX_ENABLE_X64=1 (or use `jax.enable_x64()`) "
        "and pass float64 arrays for tight results.",
        category,
        stacklevel=_user_stacklevel(),
    )


def warn_deprecated(old: str, new: str, *, why: str = "") -> None:
    """Warn that `old` is a deprecated spelling of `new` (both as they appear in a call).

    `why` is a sentence for where the meaning changed as well as the name. The warning names
    the user's line, however deep in jaxkern it is raised.
    """
    import warnings

    warnings.warn(
        f"{old} is deprecated and will be removed; use {new} (see CHANGELOG.md)."
        + (f" {why}" if why else ""),
        DeprecationWarning,
        stacklevel=_user_stacklevel(),
    )


def is_prng_key(x) -> bool:
    """Whether `x` is a PRNG key: a typed key array or a legacy raw uint32 key of shape (2,)."""
    if not isinstance(x, jax.Array | np.ndarray):
        return False
    if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
        return True
    return x.dtype == jnp.uint32 and x.shape == (2,)
