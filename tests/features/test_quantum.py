"""ZZ / Z feature-map fidelity kernels against qiskit and qiskit-machine-learning."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern.features import (
    QuantumKernel,
    ad_hoc_data,
    feature_map_state,
    fidelity_gram,
    fidelity_kernel,
)
from jaxkern.kernels import gram

from ..helpers import FLOAT, X64, assert_close, check_transforms

# The issue's training points (qiskit-machine-learning's quantum-kernel tutorial data).
XTR = [[3.07876080, 1.75929189], [6.03185789, 5.27787566], [6.22035345, 2.70176968],
       [0.18849556, 2.82743339]]


def test_golden_issue_values():
    # Golden: qiskit-machine-learning 0.9.1 FidelityQuantumKernel(ZZFeatureMap(2), reps 2,
    # full entanglement) on XTR, as quoted in the issue.
    K = fidelity_gram(jnp.asarray(XTR, FLOAT), reps=2, entanglement="full")
    assert_close(K[0], [1.0, 0.81376617, 0.05102078, 0.06033439], rtol64=0, rtol32=0,
                 atol64=1e-8, atol32=2e-5)
    assert_close(K[1, 2], 0.14750292, rtol64=0, rtol32=0, atol64=1e-8, atol32=2e-5)
    assert_close(K[2, 3], 0.26196463, rtol64=0, rtol32=0, atol64=1e-8, atol32=2e-5)


@pytest.mark.parametrize("q", [2, 3, 4, 5, 6])
def test_against_qiskit_machine_learning(q):
    # Golden: qiskit-machine-learning's FidelityStatevectorKernel and qiskit's Statevector,
    # run in this process on random points.
    qml = pytest.importorskip("qiskit_machine_learning.kernels")
    from qiskit.circuit.library import z_feature_map, zz_feature_map
    from qiskit.quantum_info import Statevector

    rng = np.random.default_rng(q)
    for reps, ent in [(1, "linear"), (2, "full"), (3, "circular")]:
        X, Y = rng.uniform(0, 2 * np.pi, (4, q)), rng.uniform(0, 2 * np.pi, (3, q))
        fm = zz_feature_map(q, reps=reps, entanglement=ent)
        ref = qml.FidelityStatevectorKernel(feature_map=fm).evaluate(X, Y)
        ours = fidelity_gram(jnp.asarray(X, FLOAT), jnp.asarray(Y, FLOAT), reps=reps,
                             entanglement=ent)
        assert_close(ours, ref, rtol64=0, rtol32=0, atol64=1e-10, atol32=2e-5)
        state = feature_map_state(jnp.asarray(X[0], FLOAT), reps=reps, entanglement=ent)
        assert_close(jnp.abs(state - Statevector(fm.assign_parameters(X[0])).data), 0.0,
                     rtol64=0, rtol32=0, atol64=1e-10, atol32=2e-5)
    X = rng.uniform(0, 2 * np.pi, (4, q))
    ref = qml.FidelityStatevectorKernel(feature_map=z_feature_map(q, reps=2)).evaluate(X)
    assert_close(fidelity_gram(jnp.asarray(X, FLOAT), feature_map="z"), ref, rtol64=0,
                 rtol32=0, atol64=1e-10, atol32=2e-5)


def test_gram_properties_and_pairwise_kernel(getkey):
    X = jax.random.uniform(getkey(), (6, 3), FLOAT, 0, 2 * jnp.pi)
    K = fidelity_gram(X, entanglement="linear")
    assert K.dtype == FLOAT
    assert_close(K, K.T, rtol32=1e-5, atol32=1e-6)
    assert_close(jnp.diag(K), jnp.ones(6), rtol32=1e-5)
    assert float(jnp.min(jnp.linalg.eigvalsh(K))) > -1e-5  # PSD
    assert_close(gram(QuantumKernel(3, entanglement="linear"), X), K, rtol32=1e-5,
                 atol32=1e-6)
    state = feature_map_state(X[0])
    assert_close(jnp.vdot(state, state).real, 1.0)


def test_transforms(getkey):
    X = jax.random.uniform(getkey(), (4, 2), FLOAT, 0, 2 * jnp.pi)
    tol = dict(rtol32=1e-5, atol32=1e-6, rtol64=1e-12, atol64=1e-13)
    # The Gram matrix: jit, rows by vmap, gradients in both point sets.
    check_transforms(lambda x, Y: fidelity_gram(x[None], Y, entanglement="linear")[0],
                     (X[0], X), batch=(X, X), in_axes=(0, None), grad_argnums=(0, 1), **tol)
    check_transforms(fidelity_kernel, (X[0], X[1]), batch=(X, X[1]), in_axes=(0, None),
                     grad_argnums=(0, 1), grad_rtol32=2e-2, **tol)
    # The state vector: complex values, differentiated in the point.
    check_transforms(feature_map_state, (X[0],), batch=(X,), grad_rtol32=2e-2, **tol)
    check_transforms(lambda x, y: QuantumKernel(2, reps=1)(x, y), (X[0], X[1]),
                     batch=(X, X[1]), in_axes=(0, None), grad_argnums=(0, 1), **tol)


@pytest.mark.skipif(not X64, reason="float64 accuracy target")
def test_eight_qubits_float64():
    qml = pytest.importorskip("qiskit_machine_learning.kernels")
    from qiskit.circuit.library import zz_feature_map

    X = np.random.default_rng(8).uniform(0, 2 * np.pi, (3, 8))
    ref = qml.FidelityStatevectorKernel(feature_map=zz_feature_map(8)).evaluate(X)
    np.testing.assert_allclose(fidelity_gram(jnp.asarray(X)), ref, atol=1e-12)


@pytest.mark.slow
def test_ad_hoc_data_and_classification():
    data = ad_hoc_data(60, key=jax.random.key(0), gap=0.3)
    assert data.x.shape == (60, 2) and int(jnp.sum(data.y)) == 0
    assert float(jnp.min(data.x)) >= 0 and float(jnp.max(data.x)) < 2 * np.pi
    # Kernel ridge classification with the fidelity kernel separates the classes.
    xtr, ytr, xte, yte = data.x[:40], data.y[:40], data.x[40:], data.y[40:]
    alpha = jnp.linalg.solve(fidelity_gram(xtr) + 1e-3 * jnp.eye(40, dtype=FLOAT),
                             ytr.astype(FLOAT))
    pred = jnp.sign(fidelity_gram(xte, xtr) @ alpha)
    assert float(jnp.mean(pred == yte.astype(FLOAT))) >= 0.9


def test_bad_input():
    x = jnp.zeros((3, 2))
    with pytest.raises(ValueError, match="num_qubits"):
        fidelity_gram(x, num_qubits=3)
    with pytest.raises(ValueError, match="num_qubits"):
        QuantumKernel(3)(jnp.zeros(2), jnp.zeros(2))
    with pytest.raises(ValueError, match="entanglement"):
        fidelity_gram(x, entanglement="ring")
    with pytest.raises(ValueError, match="reps"):
        feature_map_state(jnp.zeros(2), reps=0)
    with pytest.raises(ValueError, match="`y`"):
        fidelity_kernel(jnp.zeros(2), jnp.zeros(3))
    with pytest.raises(ValueError, match="num_points"):
        ad_hoc_data(7, key=jax.random.key(0))
