"""Every deprecation and float32 warning names the user's line, not a line inside jaxkern."""

import warnings

import jax
import jax.numpy as jnp
import pytest

import jaxkern
from jaxkern import density, pde, quadrature, ssm
from jaxkern.kernels import RBF

X = jax.random.normal(jax.random.PRNGKey(0), (20, 2))
GRID = jnp.linspace(0.0, 1.0, 10)


def _solution():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pde.solve(lambda u, du, d2u, X: d2u[0], (GRID,), [(0.0, 1.0)],
                         [RBF(lengthscale=0.2)], num_steps=0)


# Each call goes through a different path: a plain function, a helper two calls down, an
# equinox __init__ and property (which equinox wraps), and a keyword alias.
CALLS = {
    "scott_bandwidth": lambda: density.scott_bandwidth(X),
    "kde bandwidth as a matrix": lambda: density.kde_log_density(X[:2], X, bandwidth=jnp.eye(2)),
    "fast_jl(key, ...)": lambda: density.fast_jl(jax.random.PRNGKey(0), 8, 4),
    "GaussianMeasure(variance=)": lambda: quadrature.GaussianMeasure(jnp.zeros(1), variance=1.0),
    "GaussianMeasure.variance": lambda: quadrature.GaussianMeasure(jnp.zeros(1), cov=1.0).variance,
    "predict_grid(jitter=)": lambda: pde.predict_grid(_solution(), (GRID,), jitter=1e-4),
    "PDESolution.jitter": lambda: _solution().jitter,
    "s4d_init(method=)": lambda: ssm.s4d_init(8, method="inv"),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_deprecation_names_the_callers_line(name):
    with pytest.warns(DeprecationWarning) as record:
        CALLS[name]()
    deprecations = [w for w in record if issubclass(w.category, DeprecationWarning)]
    assert deprecations and all(w.filename == __file__ for w in deprecations), [
        (w.filename, w.lineno) for w in deprecations
    ]


def test_float32_warning_names_the_callers_line():
    with pytest.warns(jaxkern.Float32PrecisionWarning) as record:
        pde.solve(lambda u, du, d2u, X: d2u[0], (GRID.astype(jnp.float32),),
                  [(jnp.float32(0.0), jnp.float32(1.0))], num_steps=0)
    assert all(w.filename == __file__ for w in record
               if issubclass(w.category, jaxkern.Float32PrecisionWarning))
    assert issubclass(jaxkern.Float32CholeskyWarning, jaxkern.Float32PrecisionWarning)
