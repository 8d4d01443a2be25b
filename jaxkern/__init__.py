"""jaxkern: kernel computations in JAX.

Every algorithm is a pure function that works under `jax.jit`, `jax.vmap` and `jax.grad`;
equinox modules hold parameters on top. Domains are subpackages, imported on first use:

    >>> import jaxkern
    >>> jaxkern.kernels.rbf  # doctest: +ELLIPSIS
    <function rbf at ...>
"""

import importlib

from ._marginals import Marginals as Marginals
from ._validation import Float32PrecisionWarning as Float32PrecisionWarning
from ._xla_cpu import avoid_scheduler_deadlock
from .linalg import Float32CholeskyWarning as Float32CholeskyWarning

avoid_scheduler_deadlock()  # before any jaxkern computation creates the CPU backend

__version__ = "0.1.0"

# Every domain a user may reach as `jaxkern.<name>`; loaded lazily so `import jaxkern` stays light.
_SUBPACKAGES = (
    "special",
    "linalg",
    "optim",
    "kernels",
    "gp",
    "quadrature",
    "pde",
    "density",
    "ssm",
    "equivariant",
    "deep",
    "features",
    "timeseries",
    "graphs",
    "layers",
    "flax",
)


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'jaxkern' has no attribute {name!r}")


__all__ = ["Float32CholeskyWarning", "Float32PrecisionWarning", "Marginals", "__version__"]
