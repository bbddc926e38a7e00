"""mmdet-rnnpool: RNNPool layers, RNNPool-S3FD face detectors and a Cortex-M4 exporter for
MMDetection 3.x.

Importing the package (``custom_imports=dict(imports=['mmdet_rnnpool'])`` in a config) applies
the stack's compatibility fixes (:mod:`mmdet_rnnpool.utils.compat`) and registers every
component: ``RNNPool`` and ``RNNSparsityHook`` in MMEngine's root registries (so any OpenMMLab
child registry finds them), the detector parts, dataset, transforms and metric in MMDetection's.
"""
from .version import __version__
from .utils import apply_compat_patches

apply_compat_patches()

from . import datasets, engine, evaluation, models, ops  # noqa: E402,F401  (registration)
from .ops import RNNPool  # noqa: E402

__all__ = ['__version__', 'RNNPool', 'apply_compat_patches']
