"""ZZ-feature-map fidelity Gram matrix: jaxkern.features vs qiskit-machine-learning.

Both sides simulate statevectors exactly in the same process: qiskit-machine-learning's
`FidelityStatevectorKernel` (qiskit `Statevector` per point, then NumPy overlaps) against
`jaxkern.features.fidelity_gram` (jitted Walsh–Hadamard and phase layers, one complex matmul).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxkern.features import fidelity_gram

from . import _harness


def run(quick: bool) -> dict:
    from qiskit.circuit.library import zz_feature_map
    from qiskit_machine_learning.kernels import FidelityStatevectorKernel

    n = 20 if quick else 200
    rows = []
    for q in (4, 8):
        X = np.random.default_rng(q).uniform(0, 2 * np.pi, (n, q))
        peer = FidelityStatevectorKernel(feature_map=zz_feature_map(q, reps=2,
                                                                    entanglement="full"))
        ours = jax.jit(lambda X: fidelity_gram(X, reps=2, entanglement="full"))
        Xj = jnp.asarray(X)
        t_peer = _harness.time_call(lambda: peer.evaluate(X), repeats=1 if quick else 3)
        t_ours = _harness.time_call(lambda: ours(Xj), repeats=3 if quick else 10)
        error = float(np.max(np.abs(np.asarray(ours(Xj), np.float64) - peer.evaluate(X))))
        rows.append({
            "qubits": q, "points": n,
            "qiskit_ml_s": t_peer["median_s"], "jaxkern_s": t_ours["median_s"],
            "jaxkern_compile_s": t_ours["compile_s"],
            "speedup": _harness.ratio(t_peer, t_ours), "max_abs_diff": error,
        })
    print(_harness.table(rows, ["qubits", "points", "qiskit_ml_s", "jaxkern_s",
                                "jaxkern_compile_s", "speedup", "max_abs_diff"]))
    return {"rows": rows}
