"""HiPPO-LegS, the S4D initialisations, and the S4-PTD transfer-function claim."""

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from jaxkern.ssm import hippo_legs, ptd_init, s4d_init, ssm_transfer_function

from ..helpers import X64

CFLOAT = jnp.complex128 if X64 else jnp.complex64


def test_hippo_legs_structure_and_spectrum():
    N = 12
    h = hippo_legs(N)
    # Reference entries written from the HiPPO paper's definition, element by element.
    ref = np.zeros((N, N))
    for n in range(N):
        for k in range(N):
            if n > k:
                ref[n, k] = -np.sqrt((2 * n + 1) * (2 * k + 1))
            elif n == k:
                ref[n, k] = -(n + 1)
    np.testing.assert_allclose(h.A, ref, rtol=1e-15)
    np.testing.assert_allclose(h.B, np.sqrt(2 * np.arange(N) + 1), rtol=1e-15)
    np.testing.assert_allclose(h.S - np.outer(h.P, h.P), h.A, atol=1e-13)
    np.testing.assert_allclose(h.S + h.S.T, -np.eye(N), atol=1e-13)  # -I/2 + skew
    # SciPy's eigenvalues of the (triangular) matrix: -1, ..., -N.
    np.testing.assert_allclose(np.sort(scipy.linalg.eigvals(h.A).real), -np.arange(N, 0, -1),
                               rtol=1e-12)
    assert not h.A.flags.writeable


def test_s4d_legs_spectrum_matches_scipy():
    N = 32
    init = s4d_init(N, init="legs")
    # Reference: SciPy's general eigensolver on the normal part, upper half-plane eigenvalues.
    w = scipy.linalg.eigvals(hippo_legs(N).S)
    np.testing.assert_allclose(np.sort(init.lam.imag), np.sort(w.imag[w.imag > 0]), rtol=1e-10)
    np.testing.assert_allclose(init.lam.real, -0.5, atol=1e-10)
    np.testing.assert_allclose(w.real, -0.5, atol=1e-10)
    # V^{-1} B with orthonormal V reproduces B in the eigenbasis: |B|^2 splits over pairs.
    np.testing.assert_allclose(2 * np.sum(np.abs(init.B) ** 2), np.sum(hippo_legs(N).B ** 2),
                               rtol=1e-10)


def test_s4d_lin_and_inv_match_formulas():
    N = 16
    n = np.arange(N // 2)
    # S4D paper, section 4: Lin = -1/2 + i pi n; Inv = -1/2 + i N/pi (N/(2n+1) - 1).
    np.testing.assert_allclose(s4d_init(N, init="lin").lam, -0.5 + 1j * np.pi * n)
    np.testing.assert_allclose(s4d_init(N, init="inv").lam,
                               -0.5 + 1j * N / np.pi * (N / (2 * n + 1) - 1))
    # S4D-Inv approximates the S4D-LegS imaginary parts (S4D paper, section 4.2) to ~ 10%
    # over the low frequencies.
    legs = np.sort(s4d_init(N, init="legs").lam.imag)
    inv = np.sort(s4d_init(N, init="inv").lam.imag)
    np.testing.assert_allclose(inv[:4], legs[:4], rtol=0.25)


def test_ptd_modes():
    init = ptd_init(32)
    assert np.all(init.lam.real < 0) and np.all(init.lam.imag >= 0)
    # m = N/2 + r/2 with an even number r of real eigenvalues.
    r = int(np.sum(init.lam.imag == 0))
    assert init.lam.shape == (16 + r // 2,)
    # Reassembled from the stored half, the eigenvalues are those of A + E: they sum to its trace.
    trace = 2 * np.sum(init.lam.real) - np.sum(init.lam.real[init.lam.imag == 0])
    np.testing.assert_allclose(trace, np.trace(hippo_legs(32).A), rtol=1e-3)


def _hippo_tf(N, C, s):
    """HiPPO-LegS transfer function C (sI - A)^{-1} B by the Woodbury identity on S - P P^T,
    with S diagonalised unitarily (NumPy float64): no ill-conditioned eigenvectors involved."""
    h = hippo_legs(N)
    w, V = np.linalg.eigh(-1j * (h.S + 0.5 * np.eye(N)))
    lam = -0.5 + 1j * w
    Vh = V.conj().T
    cb, cp, pb, pp = (np.einsum("i,if,i->f", (x @ V), 1 / (s[None, :] - lam[:, None]), Vh @ y)
                      for x, y in ((C, h.B), (C, h.P), (h.P, h.B), (h.P, h.P)))
    hippo = cb - cp * pb / (1 + pp)
    s4d = cb  # S4D-LegS drops the low-rank term: C (sI - S)^{-1} B
    return hippo, s4d


def _ptd_tf(N, C, s, eps):
    init = ptd_init(N, perturbation=eps)
    return np.asarray(ssm_transfer_function(*(jnp.asarray(v, CFLOAT)
                                              for v in (init.lam, init.B, C @ init.V, s))))


def _errors(N, eps):
    """Errors against HiPPO-LegS on the imaginary axis, with C = B^T / |B|: on a log grid of
    frequencies plus the frequencies of S4D-LegS's poles, where its error spikes."""
    B = hippo_legs(N).B
    C = B / np.linalg.norm(B)
    w = np.unique(np.concatenate([np.logspace(-2, 4, 1500), s4d_init(N, init="legs").lam.imag]))
    freqs = np.concatenate([-w[::-1], w])
    G, G_s4d = _hippo_tf(N, C, 1j * freqs)
    G_ptd = _ptd_tf(N, C, 1j * freqs, eps)
    u_hat = np.exp(-((freqs / 5) ** 2))  # the fixed smooth input, in frequency
    dw = np.gradient(freqs)
    l2 = lambda d: np.sqrt(np.sum(np.abs(d * u_hat) ** 2 * dw))
    return {"sup_s4d": np.abs(G_s4d - G).max(), "l2_s4d": l2(G_s4d - G),
            "sup_ptd": np.abs(G_ptd - G).max(), "scale": np.abs(G).max()}


@pytest.mark.skipif(not X64, reason="float64 accuracy target")
def test_ptd_converges_uniformly_s4d_only_in_l2():
    # Yu et al. (ICLR 2024): with ||E||_2 = eps, sup over the imaginary axis of |G_PTD - G_HiPPO|
    # is (2 ln N + 4) eps + O(eps^2) (Theorem 3; C of unit norm here); S4D's error on a fixed
    # smooth input falls like 1/N (Theorem 1) but its worst frequency does not (Theorem 2).
    # Measured (float64): S4D L2 0.080, 0.039, 0.020 and sup 26, 52, 104 for N = 32, 64, 128;
    # PTD sup 5.3e-3, 2.2e-3, 7.5e-4 at eps = 1 (|G| <= 0.06).
    errs = {N: _errors(N, 1.0) for N in (32, 64, 128)}
    for N, e in errs.items():
        assert e["sup_ptd"] <= (2 * np.log(N) + 4) * 1.0
        assert e["sup_ptd"] < 0.1 * e["scale"]
        assert e["sup_s4d"] > 100 * e["scale"]  # spikes far above the function itself
    assert errs[64]["l2_s4d"] < 0.6 * errs[32]["l2_s4d"]
    assert errs[128]["l2_s4d"] < 0.6 * errs[64]["l2_s4d"]
    assert errs[128]["sup_s4d"] > errs[32]["sup_s4d"]
    # PTD's worst-frequency error shrinks with the perturbation (uniform convergence).
    sups = [errs[32]["sup_ptd"]] + [_errors(32, eps)["sup_ptd"] for eps in (0.1, 0.01)]
    assert sups[1] < sups[0] / 3 and sups[2] < sups[1] / 3
    assert sups[2] <= (2 * np.log(32) + 4) * 0.01


def test_ptd_uniform_bound_float32():
    e = _errors(32, 1.0)
    assert e["sup_ptd"] <= (2 * np.log(32) + 4) and e["sup_ptd"] < 0.1 * e["scale"]


def test_bad_inputs():
    with pytest.raises(ValueError, match="state_size"):
        s4d_init(15)
    with pytest.raises(ValueError, match="state_size"):
        ptd_init(7)
    with pytest.raises(ValueError, match="`init`"):
        s4d_init(16, init="legt")
    with pytest.raises(ValueError, match="perturbation"):
        ptd_init(16, perturbation=0.0)
    with pytest.raises(ValueError, match="state_size"):
        hippo_legs(0)
