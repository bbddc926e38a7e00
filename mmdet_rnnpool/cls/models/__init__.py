"""Classifier components, registered in MMPretrain's ``MODELS`` on import."""
from .backbones import (DenseNetRNNPool, EfficientNetRNNPool, GoogLeNet, GoogLeNetRNNPool,
                        MobileNetV1, MobileNetV1RNNPool, MobileNetV2RNNPool, ResNetRNNPool)
from .necks import RNNPoolNeck
from .utils import EarlyDownsample, ReplicatePadToStride, TransitionDownsample

__all__ = [
    'MobileNetV2RNNPool', 'EfficientNetRNNPool', 'ResNetRNNPool', 'DenseNetRNNPool',
    'GoogLeNet', 'GoogLeNetRNNPool', 'MobileNetV1', 'MobileNetV1RNNPool', 'RNNPoolNeck',
    'EarlyDownsample', 'TransitionDownsample', 'ReplicatePadToStride'
]
