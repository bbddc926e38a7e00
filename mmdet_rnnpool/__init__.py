"""mmdet-rnnpool: RNNPool layers, RNNPool-S3FD face detectors and a Cortex-M4 exporter for
MMDetection 3.x.

Importing the package (``custom_imports=dict(imports=['mmdet_rnnpool'])`` in a config) applies
the stack's compatibility fixes and registers every component in MMEngine's / MMDetection's
registries.
"""
from .version import __version__

__all__ = ['__version__']
