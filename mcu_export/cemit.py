"""C emission of quantised layers: const arrays and the runtime's layer structs.

Used by the model code generator and by the kernel tests (which wrap one layer in a tiny C
program). Every emitter returns C source lines and the name of the emitted object.
"""
import re
from typing import List, Optional, Tuple

import numpy as np

from .ir import (AddLayer, ConvLayer, DetectLevel, FastGRNNCell, L2NormLayer, MBConvLayer,
                 RNNPoolLayer, StreamHead, StreamSpec)
from .rnnpool_plan import emit_cell_plans, plan_field

_CTYPES = {
    np.dtype(np.int8): 'int8_t',
    np.dtype(np.uint8): 'uint8_t',
    np.dtype(np.int16): 'int16_t',
    np.dtype(np.int32): 'int32_t',
}


def c_ident(name: str) -> str:
    """A C identifier made from a layer / tensor name."""
    ident = re.sub(r'[^0-9A-Za-z_]', '_', name)
    return ident if not ident[:1].isdigit() else f'_{ident}'


def c_array(name: str, values: np.ndarray, dtype, static: bool = True,
            const: bool = True) -> List[str]:
    """Lines defining a 1-D C array (flattened C order)."""
    arr = np.ascontiguousarray(values).astype(dtype).reshape(-1)
    ctype = _CTYPES[np.dtype(dtype)]
    qual = ('static ' if static else '') + ('const ' if const else '')
    lines = [f'{qual}{ctype} {name}[{max(arr.size, 1)}] __attribute__((aligned(4))) = {{']
    per_line = 20
    if arr.size == 0:
        lines.append('    0')
    for i in range(0, arr.size, per_line):
        lines.append('    ' + ', '.join(str(int(v)) for v in arr[i:i + per_line]) + ',')
    lines.append('};')
    return lines


def _dims(shape) -> str:
    h, w, c = (int(v) for v in shape)
    return f'{{{h}, {w}, {c}}}'


def emit_conv(layer: ConvLayer, prefix: str) -> Tuple[List[str], str]:
    """Arrays and the ``rp_conv_layer`` of a convolution (regular or depthwise)."""
    p = c_ident(prefix)
    lines = c_array(f'{p}_w', layer.weights, np.int8)
    lines += c_array(f'{p}_mult', layer.multiplier, np.int32)
    lines += c_array(f'{p}_shift', layer.rshift, np.int8)
    bias = 'NULL'
    if layer.bias is not None:
        lines += c_array(f'{p}_bias', layer.bias, np.int32)
        bias = f'{p}_bias'
    pad_values = 'NULL'
    if layer.pad_values is not None:
        lines += c_array(f'{p}_padv', layer.pad_values, np.int8)
        pad_values = f'{p}_padv'
    kh, kw = layer.kernel
    lines += [
        f'static const rp_conv_layer {p} = {{',
        f'    {_dims(layer.in_shape)}, {_dims(layer.out_shape)},',
        f'    {kh}, {kw}, {int(layer.stride[0])}, {int(layer.stride[1])}, '
        f'{int(layer.pad[0])}, {int(layer.pad[1])},',
        f'    {int(layer.input_offset)}, {int(layer.output_offset)}, {int(layer.act_min)}, '
        f'{int(layer.act_max)},',
        f'    {pad_values}, {p}_w, {bias}, {{{p}_mult, {p}_shift}}',
        '};',
    ]
    return lines, p


def emit_add(layer: AddLayer, prefix: str) -> Tuple[List[str], str]:
    """The ``rp_add_layer`` of an add."""
    p = c_ident(prefix)
    v = layer
    return [
        f'static const rp_add_layer {p} = {{',
        f'    {v.input1_offset}, {v.input2_offset}, {v.left_shift},',
        f'    {v.input1_multiplier}, {v.input2_multiplier}, {v.input1_rshift}, {v.input2_rshift},',
        f'    {v.output_multiplier}, {v.output_rshift}, {v.output_offset}, {v.act_min}, '
        f'{v.act_max}',
        '};',
    ], p


def emit_l2norm(layer: L2NormLayer, prefix: str) -> Tuple[List[str], str]:
    """Arrays and the ``rp_l2norm_layer`` of an L2Norm."""
    p = c_ident(prefix)
    lines = c_array(f'{p}_mult', layer.multiplier, np.int32)
    lines += c_array(f'{p}_shift', layer.rshift, np.int8)
    lines += [
        f'static const rp_l2norm_layer {p} = {{',
        f'    {_dims(layer.shape)}, {layer.input_offset}, {layer.output_offset}, '
        f'{{{p}_mult, {p}_shift}}',
        '};',
    ]
    return lines, p


def emit_mbconv(layer: MBConvLayer, prefix: str) -> Tuple[List[str], str]:
    """Sub-layers and the ``rp_mbconv_layer`` of an inverted residual block."""
    p = c_ident(prefix)
    lines: List[str] = []
    refs = []
    for part, sub in (('exp', layer.expand), ('dw', layer.depthwise), ('pj', layer.project)):
        if sub is None:
            refs.append('NULL')
            continue
        sub_lines, name = emit_conv(sub, f'{p}_{part}')
        lines += sub_lines
        refs.append(f'&{name}')
    res = 'NULL'
    if layer.residual is not None:
        sub_lines, name = emit_add(layer.residual, f'{p}_add')
        lines += sub_lines
        res = f'&{name}'
    lines += [f'static const rp_mbconv_layer {p} = {{{refs[0]}, {refs[1]}, {refs[2]}, {res}}};']
    return lines, p


def _emit_cell(cell: FastGRNNCell, p: str) -> Tuple[List[str], str]:
    lines = c_array(f'{p}_w', cell.w, np.int8)
    lines += c_array(f'{p}_wm', cell.w_multiplier, np.int32)
    lines += c_array(f'{p}_ws', cell.w_rshift, np.int8)
    lines += c_array(f'{p}_u', cell.u, np.int8)
    lines += c_array(f'{p}_um', cell.u_multiplier, np.int32)
    lines += c_array(f'{p}_us', cell.u_rshift, np.int8)
    lines += c_array(f'{p}_bg', cell.bias_gate, np.int32)
    lines += c_array(f'{p}_bu', cell.bias_update, np.int32)
    tables = 'NULL, NULL'
    if cell.sigmoid_table is not None and cell.tanh_table is not None:
        lines += c_array(f'{p}_sig', cell.sigmoid_table, np.int16)
        lines += c_array(f'{p}_tanh', cell.tanh_table, np.int16)
        tables = f'{p}_sig, {p}_tanh'
    init = (f'{{{cell.input_size}, {cell.hidden_size}, {p}_w, {{{p}_wm, {p}_ws}}, {p}_u, '
            f'{{{p}_um, {p}_us}}, {p}_bg, {p}_bu, {int(cell.zeta_q14)}, {int(cell.nu_q14)}, '
            f'{tables}}}')
    return lines, init


def emit_rnnpool(layer: RNNPoolLayer, prefix: str) -> Tuple[List[str], str]:
    """Arrays and the ``rp_rnnpool_layer`` of an RNNPool layer."""
    p = c_ident(prefix)
    l1, init1 = _emit_cell(layer.rnn1, f'{p}_r1')
    l2, init2 = _emit_cell(layer.rnn2, f'{p}_r2')
    lines = l1 + l2 + emit_cell_plans(layer, p) + [
        f'static const rp_rnnpool_layer {p} = {{',
        f'    {layer.patch[0]}, {layer.patch[1]}, {layer.stride[0]}, {layer.stride[1]},',
        f'    {_dims(layer.in_shape)}, {_dims(layer.out_shape)}, {layer.input_offset},',
        f'    {init1},',
        f'    {init2},',
        f'    {layer.output_multiplier}, {layer.output_rshift}, {layer.output_offset}, '
        f'{layer.act_min}, {layer.act_max}, {int(layer.row_cache)}, {plan_field(p)}',
        '};',
    ]
    return lines, p


def emit_detect_level(level: DetectLevel, shape, num_logits: int,
                      prefix: str) -> Tuple[List[str], str]:
    """Tables and the initialiser of one ``rp_detect_level``."""
    p = c_ident(prefix)
    lines: List[str] = []
    for key, dtype in (('ctr_x', np.int32), ('ctr_y', np.int32), ('half_w', np.int32),
                       ('half_h', np.int32), ('score', np.int16)):
        lines += c_array(f'{p}_{key}', getattr(level, key), dtype)
    init = (f'{{{shape[0]}, {shape[1]}, {num_logits}, {level.fg_index}, {level.anchor_x0}, '
            f'{level.anchor_y0}, {level.step_x}, {level.step_y}, {p}_ctr_x, {p}_ctr_y, '
            f'{p}_half_w, {p}_half_h, {p}_score}}')
    return lines, init


def emit_stream(spec: StreamSpec, prefix: str,
                level_refs: Optional[dict] = None) -> Tuple[List[str], str]:
    """Stages and the ``rp_stream`` of a streamed front-end.

    Args:
        spec (StreamSpec): The front-end.
        prefix (str): Identifier prefix.
        level_refs (dict, optional): C expression (``const rp_detect_level *``) of each head
            stage's level, by level index. Defaults to None.

    Returns:
        tuple: lines and the identifier of the ``rp_stream``.
    """
    p = c_ident(prefix)
    lines: List[str] = []
    refs = []
    for i, (stage, src) in enumerate(zip(spec.stages, spec.srcs)):
        if isinstance(stage, StreamHead):
            loc_lines, loc = emit_conv(stage.loc, f'{p}_s{i}_loc')
            conf_lines, conf = emit_conv(stage.conf, f'{p}_s{i}_conf')
            lines += loc_lines + conf_lines
            lines.append(f'static const rp_stream_head {p}_s{i} = {{&{loc}, &{conf}, '
                         f'{level_refs[stage.level]}, {stage.level}}};')
            refs.append(f'{{RP_STAGE_HEAD, {src}, NULL, NULL, NULL, &{p}_s{i}, NULL}}')
            continue
        sub_lines, ident = emit_layer(stage, f'{p}_s{i}_{stage.name}')
        lines += sub_lines
        if isinstance(stage, RNNPoolLayer):
            refs.append(f'{{RP_STAGE_RNNPOOL, {src}, NULL, &{ident}, NULL, NULL, NULL}}')
        elif isinstance(stage, L2NormLayer):
            refs.append(f'{{RP_STAGE_L2NORM, {src}, NULL, NULL, &{ident}, NULL, NULL}}')
        elif isinstance(stage, MBConvLayer):
            refs.append(f'{{RP_STAGE_MBCONV, {src}, NULL, NULL, NULL, NULL, &{ident}}}')
        else:
            kind = 'RP_STAGE_DWCONV' if stage.depthwise else 'RP_STAGE_CONV'
            refs.append(f'{{{kind}, {src}, &{ident}, NULL, NULL, NULL, NULL}}')
    h, w, c = spec.image_shape
    lines += [f'static const rp_stream_stage {p}_stages[{len(refs)}] = {{',
              '    ' + ',\n    '.join(refs), '};',
              f'static const rp_stream {p} = {{{h}, {w}, {c}, {len(refs)}, {p}_stages, '
              f'{spec.out_index}, {spec.pad_bottom}, {spec.pad_right}, {spec.pad_index}}};']
    return lines, p


def emit_layer(layer, prefix: str) -> Tuple[List[str], str]:
    """Dispatches on the layer type."""
    if isinstance(layer, MBConvLayer):
        return emit_mbconv(layer, prefix)
    if isinstance(layer, ConvLayer):
        return emit_conv(layer, prefix)
    if isinstance(layer, AddLayer):
        return emit_add(layer, prefix)
    if isinstance(layer, L2NormLayer):
        return emit_l2norm(layer, prefix)
    if isinstance(layer, RNNPoolLayer):
        return emit_rnnpool(layer, prefix)
    raise ValueError(f'layer {getattr(layer, "name", layer)!r}: no C emitter for '
                     f'{type(layer).__name__}')


__all__ = [
    'c_ident', 'c_array', 'emit_conv', 'emit_add', 'emit_l2norm', 'emit_mbconv', 'emit_rnnpool',
    'emit_detect_level', 'emit_stream', 'emit_layer'
]
