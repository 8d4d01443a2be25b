"""Real spherical harmonics, Wigner-D matrices and the e3nn-jax converter."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
from scipy.spatial.transform import Rotation

from jaxkern.equivariant import from_e3nn, spherical_harmonics, to_e3nn, wigner_d
from tests.helpers import FLOAT, assert_close, check_transforms

LMAX = 5


def _scipy_real_harmonics(vectors: np.ndarray, lmax: int) -> np.ndarray:
    """Real harmonics from SciPy's complex ones (which carry the Condon–Shortley phase)."""
    u = vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)
    theta, phi = np.arccos(u[:, 2]), np.arctan2(u[:, 1], u[:, 0])
    out = []
    for ell in range(lmax + 1):
        for m in range(-ell, ell + 1):
            c = scipy.special.sph_harm_y(ell, abs(m), theta, phi)
            if m == 0:
                out.append(c.real)
            else:
                part = c.real if m > 0 else c.imag
                out.append(np.sqrt(2) * (-1) ** m * part)
    return np.stack(out, -1)


def _vectors(n=20, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 3))


def _rotation(seed):
    return Rotation.random(random_state=seed).as_matrix()


def test_golden_vs_scipy():
    v = _vectors()
    ours = spherical_harmonics(jnp.asarray(v, FLOAT), lmax=LMAX)
    assert ours.dtype == FLOAT
    # Reference: scipy.special.sph_harm_y, made real with sqrt(2) (-1)^m Re / Im.
    assert_close(ours, _scipy_real_harmonics(v, LMAX), rtol64=1e-12, atol64=1e-13, atol32=2e-6)


def test_y00_and_poles():
    y = spherical_harmonics(jnp.array([[0.0, 0.0, 3.0], [0.0, 0.0, -1.0]], FLOAT), lmax=2)
    # Y_00 = 1 / sqrt(4 pi) = 0.28209479177...; at the poles only m = 0 survives.
    assert_close(y[:, 0], [0.28209479177387814] * 2, rtol32=1e-6)
    assert_close(y[1, 2], -np.sqrt(3 / (4 * np.pi)), rtol32=1e-6)
    assert_close(y[:, [1, 3, 4, 5, 7, 8]], np.zeros((2, 6)), atol32=1e-7)


def test_orthonormal():
    # Exact quadrature (Gauss-Legendre x trapezoid) of Y_i Y_j over the sphere.
    z, wz = np.polynomial.legendre.leggauss(LMAX + 1)
    phi = 2 * np.pi * np.arange(2 * LMAX + 1) / (2 * LMAX + 1)
    s = np.sqrt(1 - z * z)
    pts = np.stack([np.outer(s, np.cos(phi)), np.outer(s, np.sin(phi)),
                    np.outer(z, np.ones_like(phi))], -1).reshape(-1, 3)
    w = np.outer(wz, np.full(phi.size, 2 * np.pi / phi.size)).reshape(-1)
    y = np.asarray(spherical_harmonics(jnp.asarray(pts, FLOAT), lmax=LMAX), np.float64)
    assert_close((y * w[:, None]).T @ y, np.eye((LMAX + 1) ** 2), atol64=1e-13, atol32=1e-5)


def test_transforms():
    v = jnp.asarray(_vectors(6), FLOAT)
    # jit, vmap over vectors, and the Jacobian (projected) against finite differences.
    check_transforms(spherical_harmonics, (v[0],), batch=(v,), kwargs=dict(lmax=3),
                     rtol32=2e-5, atol32=1e-6, atol64=1e-14)
    # At a pole the polynomial form is smooth: its gradient matches finite differences too.
    check_transforms(spherical_harmonics, (jnp.asarray([0.0, 0.0, 1.0], FLOAT),),
                     kwargs=dict(lmax=3), atol32=1e-6)
    # The zero vector has no direction (not differentiable there); by convention its
    # gradients are finite.
    g = jax.jacobian(lambda v: spherical_harmonics(v, lmax=3))(jnp.zeros(3, FLOAT))
    assert np.all(np.isfinite(np.asarray(g)))
    # The e3nn converters are linear maps on the coefficients.
    c = jnp.asarray(np.random.default_rng(1).normal(size=(3, 16)), FLOAT)
    for convert in (to_e3nn, from_e3nn):
        check_transforms(convert, (c[0],), batch=(c,), atol32=1e-6, atol64=1e-14)


def test_bad_input():
    with pytest.raises(ValueError, match="vectors"):
        spherical_harmonics(jnp.zeros((4, 2)), lmax=2)
    with pytest.raises(ValueError, match="lmax"):
        spherical_harmonics(jnp.zeros((4, 3)), lmax=-1)
    with pytest.raises(ValueError, match="rotation"):
        wigner_d(jnp.eye(2), lmax=1)
    with pytest.raises(ValueError, match="coefficients"):
        to_e3nn(jnp.zeros(5))


def test_wigner_d_rotates_harmonics():
    v = _vectors(10)
    R1, R2 = _rotation(1), _rotation(2)
    D1 = wigner_d(jnp.asarray(R1, FLOAT), lmax=LMAX)
    D2 = wigner_d(jnp.asarray(R2, FLOAT), lmax=LMAX)
    y = spherical_harmonics(jnp.asarray(v, FLOAT), lmax=LMAX)
    y_rot = spherical_harmonics(jnp.asarray(v @ R1.T, FLOAT), lmax=LMAX)
    assert_close(y_rot, y @ D1.T, atol64=1e-13, atol32=1e-5)
    D12 = wigner_d(jnp.asarray(R1 @ R2, FLOAT), lmax=LMAX)
    assert_close(D12, D1 @ D2, atol64=1e-13, atol32=1e-5)
    assert_close(D1 @ D1.T, np.eye(D1.shape[0]), atol64=1e-13, atol32=1e-5)
    # jit, vmap over rotations, and the derivative with respect to the rotation matrix.
    stack = jnp.asarray(np.stack([R1, R2]), FLOAT)
    check_transforms(wigner_d, (stack[0],), batch=(stack,), kwargs=dict(lmax=2),
                     atol32=1e-6, atol64=1e-14)


def test_e3nn_converter_golden():
    e3nn = pytest.importorskip("e3nn_jax")
    v, lmax = _vectors(15), 3
    irreps = e3nn.s2_irreps(lmax)
    theirs = e3nn.spherical_harmonics(irreps, jnp.asarray(v, FLOAT), normalize=True,
                                      normalization="integral").array
    ours = spherical_harmonics(jnp.asarray(v, FLOAT), lmax=lmax)
    # Y_e3nn = M Y, so to_e3nn applied to each harmonic vector gives e3nn's harmonics.
    assert_close(to_e3nn(ours), theirs, atol64=1e-13, atol32=1e-5)
    assert_close(from_e3nn(to_e3nn(ours)), ours, atol64=1e-13, atol32=1e-6)
    # e3nn's Wigner-D in its own basis equals ours conjugated by the converter.
    angles = (0.3, 1.1, -0.7)
    # e3nn-jax relies on NumPy-style promotion internally.
    with jax.numpy_dtype_promotion("standard"), jax.numpy_rank_promotion("allow"):
        R = np.asarray(e3nn.angles_to_matrix(*angles), np.float64)
        D_theirs = irreps.D_from_angles(*[jnp.asarray(a, FLOAT) for a in angles])
    D_ours = wigner_d(jnp.asarray(R, FLOAT), lmax=lmax)
    # M D M^T: to_e3nn acts on rows (c -> M c for each row vector c).
    assert_close(to_e3nn(to_e3nn(D_ours).T).T, D_theirs, atol64=1e-12, atol32=2e-5)
