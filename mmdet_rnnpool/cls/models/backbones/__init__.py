"""Classifier backbones: MMPretrain's, with RNNPool in place of their early blocks."""
from .densenet_rnnpool import DenseNetRNNPool
from .efficientnet_rnnpool import EfficientNetRNNPool
from .googlenet import GoogLeNet
from .googlenet_rnnpool import GoogLeNetRNNPool
from .mobilenet_v1 import MobileNetV1
from .mobilenet_v1_rnnpool import MobileNetV1RNNPool
from .mobilenet_v2_rnnpool import MobileNetV2RNNPool
from .resnet_rnnpool import ResNetRNNPool

__all__ = [
    'MobileNetV2RNNPool', 'EfficientNetRNNPool', 'ResNetRNNPool', 'DenseNetRNNPool',
    'GoogLeNet', 'GoogLeNetRNNPool', 'MobileNetV1', 'MobileNetV1RNNPool'
]
