"""Kernel similarity matching with Hebbian/anti-Hebbian neural networks.

A scikit-learn compatible implementation of Luther & Seung's online kernel
similarity matching network, with a PyTorch backend (CPU or CUDA).
"""

from ._hebbian import HebbianKernelSimilarityMatching
from ._linear import FoldiakNetwork, HebbianSimilarityMatching
from ._solver import TrainingDivergedError

#: The package version, as a string (``"major.minor.patch"``).
__version__ = "0.1.0"

__all__ = ["HebbianKernelSimilarityMatching", "TrainingDivergedError", "__version__"]
__all__ += ["HebbianSimilarityMatching", "FoldiakNetwork"]
