"""Backbones."""
from .resnet_rnnpool_stem import ResNetRNNPoolStem
from .rnnpool_s3fd import RNNPoolS3FD

__all__ = ['RNNPoolS3FD', 'ResNetRNNPoolStem']
