"""Tour stops for the log-Bessel functions, the Matérn kernel of any order and vMF fitting."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..kernels import gram, matern, matern52, rbf
from ..special import log_ive, log_kve, vmf_fit, vmf_sample
from . import Stop, dtype_tol, plotting

ORDER = 5


def _log_bessel() -> Stop:
    # mpmath 1.3 at 30 digits; SciPy's log(ive(1000, 50)) is -inf and log(kve(1000, 50)) inf
    ref = np.array([-2742.6281723677036, 2735.0260214668223])
    got = np.array([float(log_ive(1000.0, 50.0)), float(log_kve(1000.0, 50.0))])
    error = float(np.max(np.abs(got - ref) / np.abs(ref)))
    tol = dtype_tol(jnp.result_type(float), 1e-13, 1e-6)
    return Stop("log_ive / log_kve", "v=1000, x=50 vs mpmath (SciPy: -inf/inf)", error, tol)


def _matern(outdir) -> Stop:
    X = jax.random.normal(jax.random.key(0), (30, 2))
    general = gram(lambda a, b: matern(a, b, nu=2.5, lengthscale=0.7), X, X)
    closed = gram(lambda a, b: matern52(a, b, lengthscale=0.7), X, X)
    error = float(jnp.max(jnp.abs(general - closed)))
    tol = dtype_tol(general, 1e-12, 1e-5)
    plt = plotting()
    if plt is not None:
        r = jnp.linspace(0.0, 3.0, 200)
        x0 = jnp.zeros(1, r.dtype)
        fig, ax = plt.subplots(figsize=(5, 3))
        for nu in (0.5, 1.5, 4.0, 30.0):
            k = jax.vmap(lambda t, n=nu: matern(x0, t[None], nu=n))(r)
            ax.plot(r, k, label=f"nu = {nu}")
        ax.plot(r, jax.vmap(lambda t: rbf(x0, t[None]))(r), "k--", label="RBF")
        ax.set(xlabel="r / lengthscale", ylabel="k(r)", title="Matérn kernels of any order")
        ax.legend()
        fig.tight_layout()
        fig.savefig(outdir / "special_matern.png", dpi=100)
        plt.close(fig)
    return Stop("matern (any nu)", "nu=2.5 vs closed-form Matern-5/2, n=30", error, tol)


def _vmf() -> Stop:
    d, kappa = 2048, 5e4
    mu = jnp.zeros(d).at[0].set(1.0)
    X = vmf_sample(mu, kappa, 200, key=jax.random.key(3))
    fit = vmf_fit(X, debias=True)
    error = abs(float(fit.kappa) / kappa - 1)
    problem = "d=2048, kappa=5e4, n=200: rel. error of kappa"
    return Stop("vmf_sample + vmf_fit", problem, error, 5e-3)


def stops(outdir):
    return [_log_bessel, lambda: _matern(outdir), _vmf]
