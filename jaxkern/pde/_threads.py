r"""LAPACK on one thread while a grid solve runs.

On CPU, jaxlib's LAPACK kernels (the per-axis `eig` and `inv` of the preconditioner, the
Cholesky of each $K_d$) are SciPy's OpenBLAS, whose own thread pool (one thread per core by
default) runs beside XLA's. On a 2-core machine shared with other processes, OpenBLAS's
waiting threads spun against XLA's and the other loads: the preconditioner of one 200 x 200
evaluation of $J$ took 0.2 s to 3 s where one thread takes 0.02 s, and it was most of the
solve (a default 2-D 200 x 200 Poisson solve took 859 s; 124 s with `OPENBLAS_NUM_THREADS=1`).
The matrices are $n_d \times n_d$ with $n_d$ in the hundreds, too small for threads to pay.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import TypeVar

import jax

F = TypeVar("F", bound=Callable)


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Limit the BLAS/LAPACK thread pools to one thread, restored on exit.

    Uses `threadpoolctl` where it is installed (scikit-learn and SciPy's test suite bring it);
    without it, nothing changes (set `OPENBLAS_NUM_THREADS=1` before starting Python instead).
    """
    try:
        # jaxlib takes its LAPACK from SciPy's cython_lapack, loaded at the first LAPACK call;
        # load it now, or threadpoolctl would not find (and limit) its OpenBLAS.
        import scipy.linalg.cython_lapack  # noqa: F401
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def with_one_blas_thread(f: F) -> F:
    """`f` run inside `one_blas_thread`, its result waited for; signature and docstring kept."""

    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        with one_blas_thread():
            # Dispatch is asynchronous: wait for the result while the limit holds.
            return jax.block_until_ready(f(*args, **kwargs))

    return wrapped  # type: ignore[return-value]
