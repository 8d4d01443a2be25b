"""Tour stops for real spherical harmonics and the Gaunt tensor product."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..equivariant import gaunt_product, spherical_harmonics, wigner_d
from . import Stop, dtype_tol, plotting

ORDER = 70
LMAX = 3


def _inputs():
    n = (LMAX + 1) ** 2
    x = jax.random.normal(jax.random.key(10), (8, n))
    y = jax.random.normal(jax.random.key(11), (8, n))
    return x, y


def _pointwise(outdir) -> Stop:
    x, y = _inputs()
    p = gaunt_product(x, y)
    pts = jax.random.normal(jax.random.key(12), (200, 3), dtype=x.dtype)
    f, g = spherical_harmonics(pts, lmax=LMAX) @ x.T, spherical_harmonics(pts, lmax=LMAX) @ y.T
    fg = spherical_harmonics(pts, lmax=2 * LMAX) @ p.T
    error = float(jnp.max(jnp.abs(fg - f * g)) / jnp.max(jnp.abs(f * g)))
    plt = plotting()
    if plt is not None:
        theta, phi = np.meshgrid(np.linspace(0, np.pi, 45), np.linspace(0, 2 * np.pi, 90),
                                 indexing="ij")
        grid = np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi),
                         np.cos(theta)], -1)
        fig, axes = plt.subplots(1, 3, figsize=(10, 2.8))
        for ax, c, lmax, title in zip(axes, (x[0], y[0], p[0]), (LMAX, LMAX, 2 * LMAX),
                                      ("f", "g", "f g (Gaunt product)"), strict=True):
            values = np.asarray(spherical_harmonics(jnp.asarray(grid, c.dtype), lmax=lmax) @ c)
            mesh = ax.pcolormesh(phi, theta, values, cmap="RdBu_r", shading="auto")
            fig.colorbar(mesh, ax=ax, shrink=0.8)
            ax.set(title=title, xlabel="phi", ylabel="theta")
            ax.invert_yaxis()
        fig.tight_layout()
        fig.savefig(outdir / "equivariant_product.png", dpi=100)
        plt.close(fig)
    return Stop("gaunt_product (2D FFT)", f"lmax {LMAX} x {LMAX}: expansion = f g at 200 points",
                error, dtype_tol(x.dtype, 1e-11, 1e-4))


def _equivariance() -> Stop:
    x, y = _inputs()
    # A fixed rotation: 0.7 rad about the axis (1, 2, 2) / 3, by Rodrigues' formula.
    axis = np.array([1.0, 2.0, 2.0]) / 3
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    R = np.eye(3) + np.sin(0.7) * K + (1 - np.cos(0.7)) * K @ K
    D = wigner_d(jnp.asarray(R, x.dtype), lmax=2 * LMAX)
    n = x.shape[-1]
    rotated_first = gaunt_product(x @ D[:n, :n].T, y @ D[:n, :n].T)
    rotated_after = gaunt_product(x, y) @ D.T
    error = float(jnp.max(jnp.abs(rotated_first - rotated_after))
                  / jnp.max(jnp.abs(rotated_after)))
    return Stop("gaunt_product equivariance", f"lmax {LMAX}: product(Dx, Dy) = D product(x, y)",
                error, dtype_tol(x.dtype, 1e-11, 1e-4))


def stops(outdir):
    return [lambda: _pointwise(outdir), _equivariance]
