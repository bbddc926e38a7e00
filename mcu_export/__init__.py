"""mcu_export: from a quantised layer program to a streaming, verified Cortex-M4 C build.

Modules: :mod:`.ops` (the op kinds, one class each, registered by kind:
:func:`.ops.register_op`, :func:`.ops.get_op`), :mod:`.ir` (the layer-program IR),
:mod:`.quantize` (BN folding, int8 quantisation, multipliers), :mod:`.reference`
(bit-exact integer reference of the C runtime), :mod:`.planner` (static arena plan),
:mod:`.codegen` (model.c/.h + project), :mod:`.cemit` (C emission of the stream),
:mod:`.detect_tables` (integer SSD decoding tables),
:mod:`.random_model` (random programs), :mod:`.ctest` (building C test programs),
:mod:`.torch_export` (mmdet detector -> program; imports torch, so not re-exported here) and
:mod:`.build` (build + measure a generated project).
"""
from .codegen import generate_model_c, generate_model_h, tensor_order, write_project
from .detect_tables import build_detect_level, score_to_q15
from .ir import (AddLayer, ConvLayer, DetectLevel, DetectSpec, FastGRNNCell, L2NormLayer,
                 LayerProgram, MBConvLayer, ProgramStep, RNNPoolLayer, StreamHead, StreamSpec)
from .ops import OPS, Op, OutputOp, get_op, register_op
from .planner import ArenaPlan, plan_arena
from .quantize import (ActQuant, RangeObserver, act_quant_from_range, add_params,
                       fold_batchnorm, quantize_bias, quantize_multiplier, quantize_multipliers,
                       quantize_weights_per_channel, sigmoid_q14)

__all__ = [
    'AddLayer', 'ConvLayer', 'DetectLevel', 'DetectSpec', 'FastGRNNCell', 'L2NormLayer',
    'LayerProgram', 'MBConvLayer', 'ProgramStep', 'RNNPoolLayer', 'StreamHead', 'StreamSpec',
    'ArenaPlan', 'OPS', 'Op', 'OutputOp', 'get_op', 'register_op',
    'plan_arena', 'generate_model_c', 'generate_model_h', 'tensor_order', 'write_project',
    'build_detect_level', 'score_to_q15', 'ActQuant', 'RangeObserver', 'act_quant_from_range',
    'add_params', 'fold_batchnorm', 'quantize_bias', 'quantize_multiplier',
    'quantize_multipliers', 'quantize_weights_per_channel', 'sigmoid_q14'
]
