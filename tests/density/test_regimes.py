"""High-dimensional regime thresholds: golden values from mpmath."""

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest

from jaxkern.density import kde_regimes, tilt_entropy

from ..helpers import FLOAT, assert_close, check_transforms


def _kl_mp(b):
    # Reference: KL(N(mu, s2) || N(0, 1)) per dimension, written out in mpmath, with
    # mu = b / (1 + b) (a unit query coordinate) and s2 = 1 / (1 + b).
    b = mp.mpf(b)
    mu, s2 = b / (1 + b), 1 / (1 + b)
    return (s2 + mu**2 - 1 - mp.log(s2)) / 2


@pytest.mark.parametrize("b", [0.01, 0.5, 1.0, 7.0, 300.0])
def test_tilt_entropy_matches_gaussian_kl(b):
    # log1p(b) - b / (1 + b)^2 cancels to O(b^2) for small b: a few ulps of b relative.
    assert_close(tilt_entropy(jnp.asarray(b, FLOAT)), float(_kl_mp(b)), rtol64=1e-11,
                 rtol32=1e-5)


@pytest.mark.parametrize("alpha", [0.05, 0.3, 1.0, 2.5])
def test_thresholds_match_mpmath_root(alpha):
    # Reference: mpmath.findroot of KL(1/h^2) = alpha.
    b = mp.findroot(lambda b: _kl_mp(b) - alpha, (mp.mpf(1e-6), mp.mpf(1e8)), solver="anderson")
    r = kde_regimes(jnp.asarray(alpha, FLOAT))
    assert_close(r.h_g, float(1 / mp.sqrt(b)), rtol64=1e-12, rtol32=1e-5)
    assert_close(r.h_clt, float(mp.sqrt(2) / mp.sqrt(b)), rtol64=1e-12, rtol32=1e-5)


def test_thresholds_decrease_with_alpha_and_transforms():
    alphas = jnp.array([0.1, 0.5, 1.0, 2.0], FLOAT)
    h_g = jax.jit(jax.vmap(lambda a: kde_regimes(a).h_g))(alphas)
    assert np.all(np.diff(np.asarray(h_g)) < 0)
    # jit = eager and vmap = a loop; the thresholds come from a bisection (no gradient), the
    # entropy is smooth (grad = finite differences).
    check_transforms(kde_regimes, (jnp.asarray(0.5, FLOAT),), batch=(alphas,),
                     grad_argnums=None)
    check_transforms(tilt_entropy, (jnp.asarray(1.0, FLOAT),), batch=(alphas,))
    g = jax.grad(lambda b: tilt_entropy(b))(jnp.asarray(1.0, FLOAT))
    # d KL / db = (b^2 + 3b) / (2 (1 + b)^3), which is 1/4 at b = 1.
    assert_close(g, 0.25, rtol32=1e-6)


def test_bad_alpha():
    with pytest.raises(ValueError, match="alpha"):
        kde_regimes(0.0)
    with pytest.raises(ValueError, match="b"):
        tilt_entropy(-1.0)
    with pytest.raises(ValueError, match="iterations"):
        kde_regimes(0.5, iterations=0)
