"""Random quantised layers and layer programs (tests, benchmarks, sanity of the toolchain).

Weights are uniform int8, multipliers are chosen so that outputs spread over the int8 range
(as a calibrated model's would), so every rounding and clamp path gets exercised.
"""
import math
from typing import Optional, Tuple

import numpy as np

from .detect_tables import build_detect_level, score_to_q15
from .ir import (AddLayer, ConvLayer, DetectSpec, FastGRNNCell, L2NormLayer, LayerProgram,
                 MBConvLayer, ProgramStep, RNNPoolLayer, StreamHead, StreamSpec)
from .quantize import ActQuant, activation_tables, add_params, quantize_multipliers


def _scales(rng: np.random.Generator, n: int, fan_in: int) -> np.ndarray:
    return 40.0 / (5400.0 * math.sqrt(fan_in)) * rng.uniform(0.5, 2.0, n)


def _offsets(rng: np.random.Generator) -> Tuple[int, int]:
    return int(rng.integers(-127, 129)), int(rng.integers(-128, 128))


def random_conv(rng: np.random.Generator, name: str, in_shape, out_c: int, kernel=(3, 3),
                stride=(1, 1), pad=(1, 1), depthwise: bool = False, act: Optional[str] = None,
                pad_values: bool = False) -> ConvLayer:
    """A random int8 convolution; the output size follows from the padding (same on both sides).

    Args:
        rng (np.random.Generator): Random source.
        name (str): Layer name.
        in_shape (tuple): ``(h, w, c)``.
        out_c (int): Output channels (ignored for depthwise).
        kernel (tuple): ``(kh, kw)``. Defaults to (3, 3).
        stride (tuple): ``(sh, sw)``. Defaults to (1, 1).
        pad (tuple): ``(top, left)``, mirrored at the bottom/right. Defaults to (1, 1).
        depthwise (bool): Depthwise. Defaults to False.
        act (str, optional): None, 'relu' or 'relu6'. Defaults to None.
        pad_values (bool): Give explicit per-channel padding values. Defaults to False.

    Returns:
        ConvLayer: the layer.
    """
    h, w, c = in_shape
    kh, kw = kernel
    oc = c if depthwise else out_c
    oh = (h + 2 * pad[0] - kh) // stride[0] + 1
    ow = (w + 2 * pad[1] - kw) // stride[1] + 1
    wshape = (kh, kw, c) if depthwise else (oc, kh, kw, c)
    fan_in = kh * kw * (1 if depthwise else c)
    mult, shift = quantize_multipliers(_scales(rng, oc, fan_in))
    in_off, out_off = _offsets(rng)
    lo, hi = ActQuant(6.0 / 100, out_off).clamp(act)
    return ConvLayer(
        name=name, in_shape=(h, w, c), out_shape=(oh, ow, oc),
        weights=rng.integers(-127, 128, wshape).astype(np.int8),
        bias=rng.integers(-20000, 20000, oc).astype(np.int32), multiplier=mult, rshift=shift,
        stride=tuple(stride), pad=tuple(pad), input_offset=in_off, output_offset=out_off,
        act_min=lo, act_max=hi,
        pad_values=rng.integers(-128, 128, c).astype(np.int8) if pad_values else None,
        depthwise=depthwise)


def random_add(rng: np.random.Generator, name: str, shape, in1_offset: Optional[int] = None,
               in2_offset: Optional[int] = None, act: Optional[str] = None) -> AddLayer:
    """A random add with scales within 4x of each other."""
    s1, s2, so = rng.uniform(0.02, 0.08, 3)
    out_off = int(rng.integers(-128, 128))
    lo, hi = ActQuant(so, out_off).clamp(act)
    return AddLayer(
        name=name, shape=tuple(shape),
        input1_offset=int(rng.integers(-127, 129)) if in1_offset is None else in1_offset,
        input2_offset=int(rng.integers(-127, 129)) if in2_offset is None else in2_offset,
        output_offset=out_off, act_min=lo, act_max=hi, **add_params(s1, s2, so))


def random_l2norm(rng: np.random.Generator, name: str, shape) -> L2NormLayer:
    """A random L2Norm with weights around 8-20 and an output scale of ~0.1."""
    c = shape[2]
    weight = rng.uniform(8, 20, c)
    mult, shift = quantize_multipliers(weight / (0.1 * 2**22))
    return L2NormLayer(name, tuple(shape), int(rng.integers(-127, 129)),
                       int(rng.integers(-20, 20)), mult, shift)


def random_mbconv(rng: np.random.Generator, name: str, in_shape, out_c: int, expand: int = 2,
                  stride: int = 1) -> MBConvLayer:
    """A random inverted residual (residual add when stride 1 and in == out channels)."""
    h, w, c = in_shape
    ex = random_conv(rng, f'{name}.expand', in_shape, c * expand, (1, 1), (1, 1), (0, 0),
                     act='relu6') if expand != 1 else None
    dw_in = ex.out_shape if ex is not None else in_shape
    dw = random_conv(rng, f'{name}.dw', dw_in, 0, (3, 3), (stride, stride), (1, 1),
                     depthwise=True, act='relu6')
    if ex is not None:
        dw.input_offset = -ex.output_offset
    pj = random_conv(rng, f'{name}.project', dw.out_shape, out_c, (1, 1), (1, 1), (0, 0))
    pj.input_offset = -dw.output_offset
    res = None
    if stride == 1 and c == out_c:
        in_off = int(rng.integers(-127, 129))
        if ex is not None:
            ex.input_offset = in_off
        else:
            dw.input_offset = in_off
        res = random_add(rng, f'{name}.add', pj.out_shape, in1_offset=in_off,
                         in2_offset=-pj.output_offset)
    return MBConvLayer(name, ex, dw, pj, res)


def random_cell(rng: np.random.Generator, input_size: int, hidden: int, input_scale: float,
                tables: bool = False) -> FastGRNNCell:
    """A random fixed-point FastGRNN cell (float weights ~ U(-1/sqrt(h), 1/sqrt(h))); with
    ``tables`` it uses sigmoid / tanh tables instead of quantSigmoid / quantTanh."""
    bound = hidden**-0.5
    w_scale = np.full(hidden, bound / 127)
    wm, ws = quantize_multipliers(w_scale * input_scale * 16384)
    um, us = quantize_multipliers(w_scale)
    return FastGRNNCell(
        w=rng.integers(-127, 128, (hidden, input_size)).astype(np.int8), w_multiplier=wm,
        w_rshift=ws, u=rng.integers(-127, 128, (hidden, hidden)).astype(np.int8),
        u_multiplier=um, u_rshift=us,
        bias_gate=rng.integers(-8000, 8000, hidden).astype(np.int32),
        bias_update=rng.integers(-8000, 8000, hidden).astype(np.int32),
        zeta_q14=int(rng.integers(12000, 16384)), nu_q14=int(rng.integers(0, 2000)),
        **(dict(zip(('sigmoid_table', 'tanh_table'), activation_tables())) if tables else {}))


def random_rnnpool(rng: np.random.Generator, name: str, in_shape, h1: int, h2: int,
                   patch=(8, 8), stride=(4, 4), tables: bool = False) -> RNNPoolLayer:
    """A random RNNPool layer (no padding: the output covers whole patches only)."""
    h, w, c = in_shape
    oh = (h - patch[0]) // stride[0] + 1
    ow = (w - patch[1]) // stride[1] + 1
    om, osh = quantize_multipliers([1.0 / (16384 * 0.01)])
    return RNNPoolLayer(
        name=name, in_shape=(h, w, c), out_shape=(oh, ow, 4 * h2), patch=tuple(patch),
        stride=tuple(stride), input_offset=int(rng.integers(-127, 129)),
        rnn1=random_cell(rng, c, h1, 0.05 / 64, tables),  # RNN1 inputs are (q - zp) * 64
        rnn2=random_cell(rng, h1, h2, 1.0 / 16384 * 0.5, tables),
        output_multiplier=int(om[0]), output_rshift=int(osh[0]),
        output_offset=int(rng.integers(-20, 20)))


def random_program(rng: np.random.Generator, image_shape=(32, 40, 3), h1: int = 4, h2: int = 4,
                   name: str = 'rand', stream_head: bool = True) -> LayerProgram:
    """A small random detector: conv stem + RNNPool streamed, MBConvs, L2Norm, head levels.

    With ``stream_head`` the stem output also feeds a branch inside the stream (conv, L2Norm,
    a head decoded row by row: Face-Quant's stride-4 source).

    Args:
        rng (np.random.Generator): Random source.
        image_shape (tuple): ``(h, w, c)``; h and w multiples of 8. Defaults to (32, 40, 3).
        h1 (int): RNN1 hidden size. Defaults to 4.
        h2 (int): RNN2 hidden size. Defaults to 4.
        name (str): Program name. Defaults to 'rand'.
        stream_head (bool): Add the streamed head branch. Defaults to True.

    Returns:
        LayerProgram: the program.
    """
    stem = random_conv(rng, 'stem', image_shape, 4, (3, 3), (2, 2), (1, 1), act='relu',
                       pad_values=True)
    stem.input_offset = 128  # stage 0 input is pixel - 128, zero point -128
    pool = random_rnnpool(rng, 'rnnpool', stem.out_shape, h1, h2, (4, 4), (2, 2))
    pool.input_offset = -stem.output_offset
    stages, sources, heads = [stem, pool], [-1, 0], []
    if stream_head:
        branch = random_conv(rng, 'branch', stem.out_shape, 4, (3, 3), (1, 1), (1, 1),
                             act='relu')
        branch.input_offset = -stem.output_offset
        norm0 = random_l2norm(rng, 'norm0', branch.out_shape)
        norm0.input_offset = -branch.output_offset
        loc = random_conv(rng, 'head_s_loc', norm0.shape, 4, (3, 3), (1, 1), (1, 1))
        conf = random_conv(rng, 'head_s_conf', norm0.shape, 4, (3, 3), (1, 1), (1, 1))
        loc.input_offset = conf.input_offset = -norm0.output_offset
        stages += [branch, norm0, StreamHead('head_s', loc, conf, 0)]
        sources += [0, 2, 3]
        stride = image_shape[0] // loc.out_shape[0]
        heads.append(
            build_detect_level('head_s_loc', 'head_s_conf', ActQuant(0.05, 0), ActQuant(0.06, 0),
                               4.0 * stride, 4.0 * stride, stride, stride))
    stream = StreamSpec(image_shape, stages, 'pool', pad_bottom=1, pad_right=1, sources=sources,
                        output_stage=1)
    s0 = stream.out_shape
    b1 = random_mbconv(rng, 'block1', s0, s0[2], expand=2, stride=1)
    b1.expand.input_offset = b1.residual.input1_offset = -pool.output_offset
    b2 = random_mbconv(rng, 'block2', b1.out_shape, 8, expand=2, stride=2)
    b2.expand.input_offset = -b1.residual.output_offset
    norm = random_l2norm(rng, 'norm1', b1.out_shape)
    norm.input_offset = -b1.residual.output_offset
    steps = [ProgramStep(b1, ['pool'], 'b1'), ProgramStep(norm, ['b1'], 'n1')]
    for level, (src, shape, off) in enumerate(((
            'n1', norm.shape, norm.output_offset), ('b2', b2.out_shape, b2.project.output_offset))):
        if level == 1:
            steps.append(ProgramStep(b2, ['b1'], 'b2'))
        for kind, ch in (('loc', 4), ('conf', 2)):
            conv = random_conv(rng, f'head{level}_{kind}', shape, ch, (3, 3), (1, 1), (1, 1))
            conv.input_offset = -off
            steps.append(ProgramStep(conv, [src], f'head{level}_{kind}'))
        stride = image_shape[0] // shape[0]
        heads.append(
            build_detect_level(f'head{level}_loc', f'head{level}_conf', ActQuant(0.05, 0),
                               ActQuant(0.06, 0), 8.0 * stride, 8.0 * stride, stride, stride))
    detect = DetectSpec(heads, score_thr=score_to_q15(0.3), iou_thr=score_to_q15(0.45),
                        max_candidates=32, max_dets=8)
    program = LayerProgram(name, stream, steps, detect)
    program.infer_shapes()
    return program


__all__ = [
    'random_conv', 'random_add', 'random_l2norm', 'random_mbconv', 'random_cell',
    'random_rnnpool', 'random_program'
]
