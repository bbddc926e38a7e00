"""Op kinds of the exporter, registered by kind (see :mod:`.base`). Importing this package
registers every kind; a new kind adds one import line here."""
from .base import (OPS, RP_MAX_HIDDEN, RP_MAX_KERNEL, RP_MAX_STAGES, RP_MBCONV_CHUNK, Op,
                   OutputOp, Shape, align4, get_op, register_op)
from .conv import ConvLayer
from .add import AddLayer
from .l2norm import L2NormLayer
from .mbconv import MBConvLayer
from .rnnpool import FastGRNNCell, RNNPoolLayer
from .stream_head import StreamHead
from .detect import DetectLevel, DetectSpec
from .rnnpool_last import RNNPoolLastLayer
from . import classify, gap, linear  # noqa: F401

__all__ = ['OPS', 'Op', 'OutputOp', 'Shape', 'register_op', 'get_op', 'align4',
           'RP_MAX_HIDDEN', 'RP_MAX_KERNEL', 'RP_MAX_STAGES', 'RP_MBCONV_CHUNK', 'ConvLayer',
           'AddLayer', 'L2NormLayer', 'MBConvLayer', 'FastGRNNCell', 'RNNPoolLayer',
           'StreamHead', 'DetectLevel', 'DetectSpec', 'RNNPoolLastLayer']
