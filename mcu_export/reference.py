"""Integer reference of the Cortex-M4 runtime: computes exactly what the C computes.

One function per runtime kernel, same rounding (round half up by ``+ 2**(r-1) >> r``),
same saturation and same order of the order-dependent parts (candidate list, NMS). All
arithmetic is in numpy int64, which holds every C intermediate without overflow; the C kernels
are written so that their int32 intermediates cannot overflow for int8 data.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .ir import (AddLayer, ConvLayer, DetectLevel, DetectSpec, FastGRNNCell, L2NormLayer,
                 LayerProgram, MBConvLayer, RNNPoolLayer, StreamHead, StreamSpec)
from .planner import detect_order

Q14 = 1 << 14
PRE_LIMIT = 1 << 28
RNN_IN_SCALE = 64  # RNN1 inputs are (q - zp) * 64 (keeps the W multiplier on the fast path)
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def requantize(acc, multiplier, rshift) -> np.ndarray:
    """``(acc * multiplier + 2**(rshift-1)) >> rshift`` saturated to int32 (``rp_requantize``)."""
    acc = np.asarray(acc, dtype=np.int64)
    mult = np.asarray(multiplier, dtype=np.int64)
    rshift = np.asarray(rshift, dtype=np.int64)
    # acc * mult < 2**62 in magnitude; python ints are avoided for speed, numpy int64 suffices.
    res = (acc * mult + np.left_shift(np.int64(1), rshift - 1)) >> rshift
    return np.clip(res, INT32_MIN, INT32_MAX)


#: The harness's RGB -> grey for a 1-channel model: OpenCV's integer 0.299 R + 0.587 G +
#: 0.114 B (``cv2.cvtColor`` on uint8: 15-bit weights, rounded; equal to OpenCV 4.11 on all
#: 2^24 colours), i.e. exactly what the training / test pipeline's ``ToGray`` gives on uint8.
GREY_WEIGHTS_Q15 = (9798, 19235, 3735)


def camera_grey(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB ``(h, w, 3)`` -> uint8 grey ``(h, w, 1)``, as the harness converts it."""
    p = np.asarray(rgb).astype(np.uint32)
    r, g, b = GREY_WEIGHTS_Q15
    grey = (r * p[..., 0] + g * p[..., 1] + b * p[..., 2] + (1 << 14)) >> 15
    return grey.astype(np.uint8)[..., None]


def _to_int8(v, lo: int, hi: int, offset: int) -> np.ndarray:
    v = np.clip(v, INT32_MIN + 128, INT32_MAX - 128) + offset
    return np.clip(v, lo, hi).astype(np.int8)


def _pad_input(layer: ConvLayer, x: np.ndarray) -> np.ndarray:
    """Pads ``x`` (int64, ``x + input_offset`` already applied) as the C kernel reads it."""
    h, w, c = x.shape
    kh, kw = layer.kernel
    oh, ow, _ = layer.out_shape
    sh, sw = layer.stride
    pt, pl = layer.pad
    need_h = (oh - 1) * sh + kh
    need_w = (ow - 1) * sw + kw
    if layer.pad_values is None:
        fill = np.zeros(c, dtype=np.int64)
    else:
        fill = np.asarray(layer.pad_values, dtype=np.int64) + layer.input_offset
    out = np.empty((max(need_h, pt + h), max(need_w, pl + w), c), dtype=np.int64)
    out[...] = fill
    out[pt:pt + h, pl:pl + w] = x
    return out[:need_h, :need_w]


def conv2d(layer: ConvLayer, x: np.ndarray) -> np.ndarray:
    """Regular or depthwise convolution of a whole map (``rp_conv_s8`` / ``rp_dwconv_s8``).

    Args:
        layer (ConvLayer): The layer.
        x (np.ndarray): int8 input ``(h, w, c)``.

    Returns:
        np.ndarray: int8 output ``(oh, ow, co)``.
    """
    if tuple(x.shape) != tuple(layer.in_shape):
        raise ValueError(f'layer {layer.name}: input shape {x.shape} != {layer.in_shape}')
    xp = _pad_input(layer, x.astype(np.int64) + layer.input_offset)
    kh, kw = layer.kernel
    oh, ow, oc = layer.out_shape
    sh, sw = layer.stride
    w = layer.weights.astype(np.int64)
    acc = np.zeros((oh, ow, oc), dtype=np.int64)
    for ky in range(kh):
        for kx in range(kw):
            patch = xp[ky:ky + (oh - 1) * sh + 1:sh, kx:kx + (ow - 1) * sw + 1:sw]
            if layer.depthwise:
                acc += patch * w[ky, kx]
            else:
                acc += patch @ w[:, ky, kx, :].T
    if layer.bias is not None:
        acc += np.asarray(layer.bias, dtype=np.int64)
    v = requantize(acc, layer.multiplier, layer.rshift)
    return _to_int8(v, layer.act_min, layer.act_max, layer.output_offset)


def add(layer: AddLayer, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise add with requantisation (``rp_add_s8``)."""
    xa = (a.astype(np.int64) + layer.input1_offset) * (1 << layer.left_shift)
    xb = (b.astype(np.int64) + layer.input2_offset) * (1 << layer.left_shift)
    sa = requantize(xa, layer.input1_multiplier, layer.input1_rshift)
    sb = requantize(xb, layer.input2_multiplier, layer.input2_rshift)
    v = requantize(sa + sb, layer.output_multiplier, layer.output_rshift)
    return _to_int8(v, layer.act_min, layer.act_max, layer.output_offset)


def l2norm(layer: L2NormLayer, x: np.ndarray) -> np.ndarray:
    """Integer L2 normalisation over channels (``rp_l2norm_s8``)."""
    v = x.astype(np.int64) + layer.input_offset
    total = (v * v).sum(axis=-1)
    out = np.empty(x.shape, dtype=np.int8)
    flat_v = v.reshape(-1, x.shape[-1])
    flat_out = out.reshape(-1, x.shape[-1])
    for p, s in enumerate(total.reshape(-1)):
        s = int(s)
        if s == 0:
            flat_out[p] = np.clip(layer.output_offset, -128, 127)
            continue
        root = _isqrt(s << 32)
        inv = ((1 << 38) + (root >> 1)) // root
        r = requantize(flat_v[p] * inv, layer.multiplier, layer.rshift)
        flat_out[p] = _to_int8(r, -128, 127, layer.output_offset)
    return out


def _isqrt(n: int) -> int:
    import math
    return math.isqrt(n)


def mbconv(layer: MBConvLayer, x: np.ndarray) -> np.ndarray:
    """Inverted residual block (``rp_mbconv_s8``): the four layers on whole maps."""
    y = conv2d(layer.expand, x) if layer.expand is not None else x
    y = conv2d(layer.depthwise, y)
    y = conv2d(layer.project, y)
    if layer.residual is not None:
        y = add(layer.residual, x, y)
    return y


def act_table(table: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Linear interpolation in a 513-entry Q14 table over [-8, 8) (``act_table`` in C)."""
    tab = np.asarray(table, dtype=np.int64)
    u = np.clip(x, -8 * Q14, 8 * Q14 - 1) + 8 * Q14
    i, f = u >> 9, u & 511
    return tab[i] + (((tab[i + 1] - tab[i]) * f + 256) >> 9)


def fastgrnn_sequence(cell: FastGRNNCell, xs: np.ndarray) -> np.ndarray:
    """Runs a FastGRNN cell over sequences from a zero state, returns the last state.

    Args:
        cell (FastGRNNCell): The cell.
        xs (np.ndarray): int64 inputs ``(batch, steps, input_size)`` (already offset / Q14).

    Returns:
        np.ndarray: int64 ``(batch, hidden)`` Q14 states (int16 range).
    """
    w = cell.w.astype(np.int64)
    u = cell.u.astype(np.int64)
    h = np.zeros((xs.shape[0], cell.hidden_size), dtype=np.int64)
    for t in range(xs.shape[1]):
        pw = np.clip(requantize(xs[:, t] @ w.T, cell.w_multiplier, cell.w_rshift),
                     -PRE_LIMIT, PRE_LIMIT)
        pu = np.clip(requantize(h @ u.T, cell.u_multiplier, cell.u_rshift), -PRE_LIMIT, PRE_LIMIT)
        pre = pw + pu
        if cell.sigmoid_table is not None and cell.tanh_table is not None:
            z = act_table(cell.sigmoid_table, pre + cell.bias_gate.astype(np.int64))
            ht = act_table(cell.tanh_table, pre + cell.bias_update.astype(np.int64))
        else:
            z = np.clip((pre + cell.bias_gate.astype(np.int64) + Q14) >> 1, 0, Q14)
            ht = np.clip(pre + cell.bias_update.astype(np.int64), -Q14, Q14)
        coef = ((int(cell.zeta_q14) * (Q14 - z)) >> 14) + int(cell.nu_q14)
        h = np.clip((z * h + coef * ht + (1 << 13)) >> 14, -32768, 32767)
    return h


def rnnpool_patches(layer: RNNPoolLayer, patches: np.ndarray) -> np.ndarray:
    """RNNPool over a batch of patches (``rp_rnnpool_s8_patch``).

    Args:
        layer (RNNPoolLayer): The layer.
        patches (np.ndarray): int8 ``(n, ph, pw, c)``.

    Returns:
        np.ndarray: int8 ``(n, 4 * h2)``: rows fwd, rows bwd, columns fwd, columns bwd.
    """
    n, ph, pw, c = patches.shape
    x = (patches.astype(np.int64) + layer.input_offset) * RNN_IN_SCALE
    h1 = layer.rnn1.hidden_size
    rows = fastgrnn_sequence(layer.rnn1, x.reshape(n * ph, pw, c)).reshape(n, ph, h1)
    cols = fastgrnn_sequence(layer.rnn1, x.transpose(0, 2, 1, 3).reshape(n * pw, ph, c))
    cols = cols.reshape(n, pw, h1)
    outs = []
    for seq in (rows, cols):
        outs.append(fastgrnn_sequence(layer.rnn2, seq))
        outs.append(fastgrnn_sequence(layer.rnn2, seq[:, ::-1]))
    h = np.concatenate(outs, axis=1)
    v = requantize(h, layer.output_multiplier, layer.output_rshift)
    return _to_int8(v, layer.act_min, layer.act_max, layer.output_offset)


def rnnpool(layer: RNNPoolLayer, x: np.ndarray) -> np.ndarray:
    """RNNPool over a whole map (``rp_rnnpool_s8``)."""
    oh, ow, oc = layer.out_shape
    ph, pw = layer.patch
    sh, sw = layer.stride
    patches = np.stack([
        x[py * sh:py * sh + ph, px * sw:px * sw + pw] for py in range(oh) for px in range(ow)
    ])
    return rnnpool_patches(layer, patches).reshape(oh, ow, oc)


def stream_outputs(spec: StreamSpec, image: np.ndarray, on_layer=None):
    """The streamed front-end on a whole image (``rp_stream_run``), stage by stage.

    Row by row or map by map, every stage computes the same values (its kernels are the
    whole-map ones applied to row windows), so whole maps specify the stream exactly.

    Args:
        spec (StreamSpec): Front-end.
        image (np.ndarray): uint8 ``(h, w, c)``.
        on_layer (callable, optional): ``on_layer(stage, inputs, output)`` after every stage
            (a head stage's output is its ``(loc, conf)`` pair); a returned value replaces
            the output downstream. Defaults to None.

    Returns:
        tuple: the int8 output map (replicate-padded if it is the padded stage) and
        ``{level: (loc, conf)}`` of the head stages.
    """
    camera = (image.astype(np.int16) - 128).astype(np.int8)
    maps, heads = [], {}
    for index, (stage, src) in enumerate(zip(spec.stages, spec.srcs)):
        x = camera if src == -1 else maps[src]
        if isinstance(stage, StreamHead):
            pair = (conv2d(stage.loc, x), conv2d(stage.conf, x))
            if on_layer is not None:
                pair = _replaced(on_layer(stage, [x], pair), pair)
            heads[stage.level] = pair
            maps.append(None)
            continue
        if isinstance(stage, RNNPoolLayer):
            y = rnnpool(stage, x)
        elif isinstance(stage, L2NormLayer):
            y = l2norm(stage, x)
        elif isinstance(stage, MBConvLayer):
            y = mbconv(stage, x)
        else:
            y = conv2d(stage, x)
        if on_layer is not None:
            y = _replaced(on_layer(stage, [x], y), y)
        if index == spec.pad_index and (spec.pad_bottom or spec.pad_right):
            y = np.pad(y, ((0, spec.pad_bottom), (0, spec.pad_right), (0, 0)), mode='edge')
        maps.append(y)
    return maps[spec.out_index], heads


def stream(spec: StreamSpec, image: np.ndarray) -> np.ndarray:
    """The output map of the streamed front-end (see :func:`stream_outputs`)."""
    return stream_outputs(spec, image)[0]


def detect_decode(level: DetectLevel, level_index: int, loc: np.ndarray, conf: np.ndarray,
                  score_thr: int, img_w: int, img_h: int) -> List[Tuple[int, ...]]:
    """Decodes one level (``rp_detect_add_rows``) into candidates in scan order.

    A box with zero width or height once clipped to the image is no candidate.

    Returns:
        list[tuple]: ``(x1, y1, x2, y2, score, label, level)`` per kept location.
    """
    h, w, n = conf.shape
    logits = conf.astype(np.int64)
    others = np.delete(logits, level.fg_index, axis=2)
    bg = np.maximum(others.max(axis=2), -128)
    score = level.score.astype(np.int64)[logits[..., level.fg_index] - bg + 255]
    codes = loc.astype(np.int64) + 128
    ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing='ij')
    cx = level.anchor_x0 + xs * level.step_x + level.ctr_x.astype(np.int64)[codes[..., 0]]
    cy = level.anchor_y0 + ys * level.step_y + level.ctr_y.astype(np.int64)[codes[..., 1]]
    hw = level.half_w.astype(np.int64)[codes[..., 2]]
    hh = level.half_h.astype(np.int64)[codes[..., 3]]
    xmax, ymax = img_w * 16, img_h * 16
    x1 = np.clip(cx - hw, 0, xmax)
    y1 = np.clip(cy - hh, 0, ymax)
    x2 = np.clip(cx + hw, 0, xmax)
    y2 = np.clip(cy + hh, 0, ymax)
    # boxes empty after clipping are dropped (mmdet's min_bbox_size = 0)
    keep = (score >= score_thr) & (x2 > x1) & (y2 > y1)
    return [(int(x1[i]), int(y1[i]), int(x2[i]), int(y2[i]), int(score[i]), 0, level_index)
            for i in zip(*np.nonzero(keep))]


def _overlaps(a, b, iou_thr: int) -> bool:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return False
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return union > 0 and inter * 32768 > iou_thr * union


def detect(spec: DetectSpec, heads: Dict[str, np.ndarray], img_w: int, img_h: int,
           order: Optional[Sequence[int]] = None) -> np.ndarray:
    """Post-processing (``rp_detect_*``): bounded candidate list, greedy NMS, top-K.

    Args:
        spec (DetectSpec): Post-processing.
        heads (dict[str, np.ndarray]): Head tensors by name.
        img_w (int): Image width.
        img_h (int): Image height.
        order (list[int], optional): Level indices in decoding order (the generated model
            decodes a level as soon as both its heads exist; candidates of equal score rank by
            level, so the order only matters within a level). Defaults to None (level order).

    Returns:
        np.ndarray: int32 ``(n, 7)``: x1, y1, x2, y2 (Q4), score (Q15), label, level.
    """
    cands = []
    for index in (range(len(spec.levels)) if order is None else order):
        level = spec.levels[index]
        cands += detect_decode(level, index, heads[level.loc], heads[level.conf], spec.score_thr,
                               img_w, img_h)
    # the C list keeps the first max_candidates of a stable sort by descending score, then
    # ascending level (so it does not matter how streamed levels' rows interleave)
    ranked = sorted(range(len(cands)), key=lambda i: (-cands[i][4], cands[i][6]))
    ranked = ranked[:spec.max_candidates]
    kept: List[Tuple[int, ...]] = []
    for i in ranked:
        if len(kept) >= spec.max_dets:
            break
        if not any(_overlaps(k, cands[i], spec.iou_thr) for k in kept):
            kept.append(cands[i])
    return np.array(kept, dtype=np.int32).reshape(-1, 7)


def run_layer(layer, inputs: Sequence[np.ndarray]) -> np.ndarray:
    """Runs one arena layer on its input tensors."""
    if isinstance(layer, AddLayer):
        return add(layer, inputs[0], inputs[1])
    if isinstance(layer, L2NormLayer):
        return l2norm(layer, inputs[0])
    if isinstance(layer, MBConvLayer):
        return mbconv(layer, inputs[0])
    if isinstance(layer, ConvLayer):
        return conv2d(layer, inputs[0])
    raise ValueError(f'layer {getattr(layer, "name", layer)!r}: unsupported kind '
                     f'{type(layer).__name__}')


def _replaced(returned, output):
    return output if returned is None else returned


def run_program(program: LayerProgram, image: np.ndarray, on_layer=None
                ) -> Tuple[Dict[str, np.ndarray], np.ndarray]:
    """Runs a whole layer program on a uint8 image.

    Args:
        program (LayerProgram): The program.
        image (np.ndarray): uint8 ``(h, w, c)``.
        on_layer (callable, optional): ``on_layer(op, inputs, output) -> Optional[array]``,
            called after every op, stream stages included, with its int8 inputs and output;
            a returned array replaces the output downstream (the exporter's bias correction
            runs on this interpreter through it). Defaults to None.

    Returns:
        tuple: every tensor by name, and the detections (see :func:`detect`).
    """
    out_map, streamed = stream_outputs(program.stream, image, on_layer)
    tensors = {program.stream.output: out_map}
    for level, (loc, conf) in streamed.items():
        lv = program.detect.levels[level]
        tensors[lv.loc], tensors[lv.conf] = loc, conf
    for step in program.steps:
        inputs = [tensors[n] for n in step.inputs]
        y = run_layer(step.layer, inputs)
        if on_layer is not None:
            y = _replaced(on_layer(step.layer, inputs, y), y)
        tensors[step.output] = y
    h, w, _ = program.stream.image_shape
    order = [level for _, level in detect_order(program)]
    return tensors, detect(program.detect, tensors, w, h, order)


__all__ = [
    'requantize', 'act_table', 'conv2d', 'add', 'l2norm', 'mbconv', 'fastgrnn_sequence',
    'rnnpool_patches',
    'rnnpool', 'stream', 'stream_outputs', 'detect_decode', 'detect', 'run_layer', 'run_program'
]
