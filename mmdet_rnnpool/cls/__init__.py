"""RNNPool image classifiers for MMPretrain (the RNNPool paper's Sections 5.1 and 5.2).

Not imported by ``import mmdet_rnnpool`` (the detection half must not need MMPretrain): a
classification config names it, ``custom_imports=dict(imports=['mmdet_rnnpool.cls'])``, which
imports the parent package first (the stack's fixes, ``RNNPool`` / ``ReNet`` in MMEngine's root
``MODELS``), then registers the backbones and the neck in MMPretrain's ``MODELS``.
MMPretrain 1.2.0 trains, tests and infers on this stack without a fix of its own (the
parent's checkpoint and config-path fixes cover it).
"""
from . import models  # noqa: F401  (registration)
from .models import (DenseNetRNNPool, EfficientNetRNNPool, GoogLeNet, GoogLeNetRNNPool,
                     MobileNetV1, MobileNetV1RNNPool, MobileNetV2RNNPool, ResNetRNNPool,
                     RNNPoolNeck)

__all__ = [
    'MobileNetV2RNNPool', 'EfficientNetRNNPool', 'ResNetRNNPool', 'DenseNetRNNPool',
    'GoogLeNet', 'GoogLeNetRNNPool', 'MobileNetV1', 'MobileNetV1RNNPool', 'RNNPoolNeck'
]
