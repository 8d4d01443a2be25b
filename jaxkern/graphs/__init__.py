"""Floor 2: graphs and manifolds -- sparse Laplacians, Chebyshev spectral filters, ChebConv,
Rayleigh-quotient features, graph Matérn and heat kernels, connection Laplacians and
vector-field GPs (RVGP), and the augmentation kernel.

Where things live: `_graph.py` (edge-list graphs, kNN), `_laplacian.py` (Laplacian operators),
`_chebyshev.py` (filters), `_features.py` (Rayleigh quotients, spectral energy),
`_kernels.py` (graph kernels, Lanczos eigenpairs), `_layers.py` (ChebConv).
"""

from ._chebyshev import chebyshev_coefficients as chebyshev_coefficients
from ._chebyshev import chebyshev_filter as chebyshev_filter
from ._chebyshev import chebyshev_moments as chebyshev_moments
from ._chebyshev import jackson_damping as jackson_damping
from ._features import band_coefficients as band_coefficients
from ._features import rayleigh_quotient as rayleigh_quotient
from ._features import spectral_energy as spectral_energy
from ._graph import Graph as Graph
from ._graph import Neighbours as Neighbours
from ._graph import graph_from_adjacency as graph_from_adjacency
from ._graph import graph_from_edges as graph_from_edges
from ._graph import knn as knn
from ._graph import knn_graph as knn_graph
from ._kernels import EigenPairs as EigenPairs
from ._kernels import FilterGraphKernel as FilterGraphKernel
from ._kernels import GraphHeat as GraphHeat
from ._kernels import GraphMatern as GraphMatern
from ._kernels import graph_heat_spectrum as graph_heat_spectrum
from ._kernels import graph_matern_spectrum as graph_matern_spectrum
from ._kernels import lowest_eigenpairs as lowest_eigenpairs
from ._laplacian import Laplacian as Laplacian
from ._laplacian import laplacian as laplacian
from ._layers import ChebConv as ChebConv
from ._layers import cheb_conv as cheb_conv

__all__ = [
    "ChebConv",
    "EigenPairs",
    "FilterGraphKernel",
    "Graph",
    "GraphHeat",
    "GraphMatern",
    "Laplacian",
    "Neighbours",
    "band_coefficients",
    "cheb_conv",
    "chebyshev_coefficients",
    "chebyshev_filter",
    "chebyshev_moments",
    "graph_from_adjacency",
    "graph_from_edges",
    "graph_heat_spectrum",
    "graph_matern_spectrum",
    "jackson_damping",
    "knn",
    "knn_graph",
    "laplacian",
    "lowest_eigenpairs",
    "rayleigh_quotient",
    "spectral_energy",
]
