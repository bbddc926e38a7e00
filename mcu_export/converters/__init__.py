"""Float module -> program ops: the converter registry, the traced graph, the program assembly.

See :mod:`.base` for how a module type is added. Importing this package registers the built-in
converters (mmcv ConvModule / Conv2d, mmdet and mmpretrain inverted residuals, RNNPool, the
replicate pad, L2Norm, SSD / S3FD heads, GlobalAveragePooling, RNNPoolNeck, Linear).
"""
from .base import (CONVERTERS, Converter, ConvertContext, Mapped, Node, find_converter,
                   module_where, register_converter)
from .graph import ModelGraph, register_tensor_names, tensor_name, trace_graph
from . import layers  # noqa: F401,E402  (registers)
from . import heads  # noqa: F401,E402
from . import classifier  # noqa: F401,E402
from . import fuse  # noqa: F401,E402
from .program import MappedModel, assemble, map_graph, schedule  # noqa: E402

# RNNPoolS3FD's tensors keep their historical names (stem0, rnnpool, stage1.2, source0.0)
register_tensor_names(r'^backbone\.stem\.(\d+)$', r'stem\1')
register_tensor_names(r'^backbone\.rnnpool$', 'rnnpool')
register_tensor_names(r'^backbone\.stages\.(\d+)\.(\d+)$', r'stage\1.\2')
register_tensor_names(r'^backbone\.source_layers\.(\d+)\.(\d+)$', r'source\1.\2')

__all__ = ['CONVERTERS', 'Converter', 'ConvertContext', 'Mapped', 'Node', 'find_converter',
           'module_where', 'register_converter', 'ModelGraph', 'register_tensor_names',
           'tensor_name', 'trace_graph', 'MappedModel', 'assemble', 'map_graph', 'schedule']
