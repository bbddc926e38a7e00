"""C emission of ops and of the streamed front-end (designated initialisers throughout).

Each op kind emits itself (``Op.emit``); this module assembles the ``rp_stream`` and keeps the
historical per-kind entry points used by the kernel tests and benchmarks. Every emitter returns
C source lines and the name of the emitted object.
"""
from typing import List, Tuple

from .ir import (AddLayer, ConvLayer, DetectLevel, L2NormLayer, MBConvLayer, Op, RNNPoolLayer,
                 StreamSpec)
from .ops.base import c_array, c_dims, c_ident, c_struct


def emit_layer(layer: Op, prefix: str) -> Tuple[List[str], str]:
    """The op's declarations and identifier (``Op.emit``)."""
    return layer.emit(prefix)


def emit_conv(layer: ConvLayer, prefix: str) -> Tuple[List[str], str]:
    """Arrays and the ``rp_conv_layer`` of a convolution (regular or depthwise)."""
    return layer.emit(prefix)


def emit_add(layer: AddLayer, prefix: str) -> Tuple[List[str], str]:
    """The ``rp_add_layer`` of an add."""
    return layer.emit(prefix)


def emit_l2norm(layer: L2NormLayer, prefix: str) -> Tuple[List[str], str]:
    """Arrays and the ``rp_l2norm_layer`` of an L2Norm."""
    return layer.emit(prefix)


def emit_mbconv(layer: MBConvLayer, prefix: str) -> Tuple[List[str], str]:
    """Sub-layers and the ``rp_mbconv_layer`` of an inverted residual block."""
    return layer.emit(prefix)


def emit_rnnpool(layer: RNNPoolLayer, prefix: str) -> Tuple[List[str], str]:
    """Arrays and the ``rp_rnnpool_layer`` of an RNNPool layer."""
    return layer.emit(prefix)


def emit_detect_level(level: DetectLevel, shape, num_logits: int,
                      prefix: str) -> Tuple[List[str], str]:
    """Tables and the initialiser of one ``rp_detect_level``."""
    return level.emit(shape, num_logits, prefix)


def emit_stream(spec: StreamSpec, prefix: str) -> Tuple[List[str], str]:
    """Stages and the ``rp_stream`` of a streamed front-end.

    Args:
        spec (StreamSpec): The front-end.
        prefix (str): Identifier prefix.

    Returns:
        tuple: lines and the identifier of the ``rp_stream``.
    """
    p = c_ident(prefix)
    lines: List[str] = []
    inits = []
    for i, (stage, src) in enumerate(zip(spec.stages, spec.srcs)):
        sub_lines, ident = stage.emit(f'{p}_s{i}_{stage.name}')
        lines += sub_lines
        inits.append(stage.c_stage(ident, src))
    h, w, c = spec.image_shape
    lines += [f'static const rp_stream_stage {p}_stages[{len(inits)}] = {{',
              '    ' + ',\n    '.join(inits), '};']
    lines += c_struct('rp_stream', p, [
        ('image_h', h), ('image_w', w), ('image_c', c), ('num_stages', len(inits)),
        ('stages', f'{p}_stages'), ('output_stage', spec.out_index),
        ('pad_bottom', spec.pad_bottom), ('pad_right', spec.pad_right),
        ('pad_stage', spec.pad_index)])
    return lines, p


__all__ = [
    'c_ident', 'c_array', 'c_dims', 'c_struct', 'emit_conv', 'emit_add', 'emit_l2norm',
    'emit_mbconv', 'emit_rnnpool', 'emit_detect_level', 'emit_stream', 'emit_layer'
]
