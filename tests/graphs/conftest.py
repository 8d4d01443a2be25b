"""Shared fixtures of the graphs tests: PyGSP's Minnesota road graph and its exact spectrum."""

import functools

import numpy as np
import pytest


@functools.cache
def minnesota():
    """(W as scipy sparse, coordinates, normalised-Laplacian eigenvalues, eigenvectors), the
    spectrum from NumPy's dense eigh in float64 (the independent reference)."""
    pygsp = pytest.importorskip("pygsp")
    G = pygsp.graphs.Minnesota()
    G.compute_laplacian("normalized")
    lam, U = np.linalg.eigh(G.L.toarray())
    return G.W.astype(np.float64), np.asarray(G.coords), lam, U


@pytest.fixture
def minnesota_graph():
    return minnesota()
