"""Classifier necks."""
from .rnnpool_neck import RNNPoolNeck

__all__ = ['RNNPoolNeck']
