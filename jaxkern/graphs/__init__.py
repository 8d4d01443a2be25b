"""Floor 2: graphs and manifolds -- sparse Laplacians, Chebyshev spectral filters, ChebConv,
Rayleigh-quotient features, graph Matérn and heat kernels, connection Laplacians and
vector-field GPs (RVGP), and the augmentation kernel.

Where things live: `_graph.py` (edge-list graphs, kNN), `_laplacian.py` (Laplacian operators),
`_chebyshev.py` (filters), `_features.py` (Rayleigh quotients, spectral energy),
`_kernels.py` (graph kernels, Lanczos eigenpairs), `_layers.py` (ChebConv),
`_connection.py` (connection Laplacians, RVGP helpers), `_augmentation.py` (augmentation
kernel, top eigenspace, linear probe).
"""

from ._augmentation import AugmentationGraph as AugmentationGraph
from ._augmentation import Eigenspace as Eigenspace
from ._augmentation import LinearProbe as LinearProbe
from ._augmentation import linear_probe as linear_probe
from ._augmentation import random_mask_augmentations as random_mask_augmentations
from ._augmentation import top_eigenspace as top_eigenspace
from ._chebyshev import chebyshev_coefficients as chebyshev_coefficients
from ._chebyshev import chebyshev_filter as chebyshev_filter
from ._chebyshev import chebyshev_moments as chebyshev_moments
from ._chebyshev import jackson_damping as jackson_damping
from ._connection import ConnectionLaplacian as ConnectionLaplacian
from ._connection import connection_laplacian as connection_laplacian
from ._connection import nearest_orthogonal as nearest_orthogonal
from ._connection import tangent_frames as tangent_frames
from ._connection import to_ambient as to_ambient
from ._connection import to_local as to_local
from ._connection import vector_field_points as vector_field_points
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
    "AugmentationGraph",
    "ChebConv",
    "ConnectionLaplacian",
    "EigenPairs",
    "Eigenspace",
    "FilterGraphKernel",
    "Graph",
    "GraphHeat",
    "GraphMatern",
    "Laplacian",
    "LinearProbe",
    "Neighbours",
    "band_coefficients",
    "cheb_conv",
    "chebyshev_coefficients",
    "chebyshev_filter",
    "chebyshev_moments",
    "connection_laplacian",
    "graph_from_adjacency",
    "graph_from_edges",
    "graph_heat_spectrum",
    "graph_matern_spectrum",
    "jackson_damping",
    "knn",
    "knn_graph",
    "laplacian",
    "linear_probe",
    "lowest_eigenpairs",
    "nearest_orthogonal",
    "random_mask_augmentations",
    "rayleigh_quotient",
    "spectral_energy",
    "tangent_frames",
    "top_eigenspace",
    "to_ambient",
    "to_local",
    "vector_field_points",
]
