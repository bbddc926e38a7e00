"""RNNPool image classifiers for MMPretrain (the RNNPool paper's Sections 5.1 and 5.2).

Not imported by ``import mmdet_rnnpool`` (the detection half must not need MMPretrain): a
classification config names it, ``custom_imports=dict(imports=['mmdet_rnnpool.cls'])``, which
imports the parent package first (the stack's fixes, ``RNNPool`` / ``ReNet`` in MMEngine's root
``MODELS``), then applies MMPretrain's fixes (:mod:`mmdet_rnnpool.utils.cls_compat`) and
registers the backbones and the neck in MMPretrain's ``MODELS``.
"""
from mmdet_rnnpool.utils.cls_compat import apply_cls_compat_patches

apply_cls_compat_patches()

from . import models  # noqa: E402,F401  (registration)
from .models import (DenseNetRNNPool, EfficientNetRNNPool, GoogLeNet,  # noqa: E402
                     GoogLeNetRNNPool, MobileNetV1, MobileNetV1RNNPool, MobileNetV2RNNPool,
                     ResNetRNNPool, RNNPoolNeck)

__all__ = [
    'MobileNetV2RNNPool', 'EfficientNetRNNPool', 'ResNetRNNPool', 'DenseNetRNNPool',
    'GoogLeNet', 'GoogLeNetRNNPool', 'MobileNetV1', 'MobileNetV1RNNPool', 'RNNPoolNeck',
    'apply_cls_compat_patches'
]
