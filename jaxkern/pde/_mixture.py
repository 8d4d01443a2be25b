r"""GP-HM's initial mixture kernels, and how the solver recognises a mixture."""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._validation import check_int
from ..kernels import StudentTMixture
from ._problem import check_axes


def is_mixture(kernel) -> bool:
    """Whether the kernel declares itself a mixture whose components can be kept or dropped.

    Asks the kernel for the mixture protocol of `jaxkern.kernels` (`num_components` and
    `select(keep)`, as `StudentTMixture` and `SpectralMixture` declare), never its type or its
    field names.
    """
    return isinstance(getattr(kernel, "num_components", None), int) and callable(
        getattr(kernel, "select", None)
    )


def mixture_kernels(
    axes: Sequence[Float[Array, " n"]],
    *,
    num_components: int = 30,
    max_frequency: float | Sequence[float] | None = None,
    lengthscale: float = 1.0,
) -> tuple[StudentTMixture, ...]:
    r"""GP-HM's initial Student-t mixture kernels, one per grid dimension.

    Component $q$ of dimension $d$ starts at weight $1/Q$, lengthscale `lengthscale` and
    frequency $\mu_q = q\, f_{\max} / (Q - 1)$, spreading the mixture evenly over
    $[0, f_{\max}]$ (cycles per unit). The fit then moves the frequencies onto the solution's and
    shrinks the weights of the rest (log weights act as a Jeffreys prior).

    **Arguments:**

    - `axes`: uniformly spaced grid coordinates, one array per dimension.
    - `num_components`: $Q$ (keyword-only, as are the rest).
    - `max_frequency`: $f_{\max}$, a number or one per dimension; defaults to 0.6 times each
      axis's Nyquist frequency $1 / (2h)$.
    - `lengthscale`: initial envelope lengthscale.

    **Returns:** a tuple of [`StudentTMixture`][jaxkern.kernels.StudentTMixture] kernels.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.pde import mixture_kernels
        >>> (k,) = mixture_kernels((jnp.linspace(0, 1, 11),), num_components=3, max_frequency=4.0)
        >>> k.means[:, 0].tolist()
        [0.0, 2.0, 4.0]

    Fang et al., *Solving High Frequency and Multi-Scale PDEs with Gaussian Processes*,
    ICLR 2024, §4.
    """
    axes = check_axes(axes)
    check_int("num_components", num_components, 1)
    if max_frequency is None:
        max_frequency = [0.6 / (2 * float(a[1] - a[0])) for a in axes]
    elif np.ndim(max_frequency) == 0:
        max_frequency = [float(max_frequency)] * len(axes)
    if len(max_frequency) != len(axes):
        raise ValueError(
            f"`max_frequency` must be a number or one per axis ({len(axes)}), got "
            f"{max_frequency!r}."
        )
    q = num_components
    return tuple(
        StudentTMixture(
            weights=jnp.full((q,), 1.0 / q, a.dtype),
            means=jnp.linspace(0.0, fmax, q, dtype=a.dtype)[:, None],
            lengthscales=jnp.full((q, 1), lengthscale, a.dtype),
        )
        for a, fmax in zip(axes, max_frequency)
    )
