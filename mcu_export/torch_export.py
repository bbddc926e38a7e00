"""Maps an mmdet RNNPool face detector (RNNPoolS3FD + S3FDHead/SSDHead) onto a LayerProgram.

Supported module tree (anything else is refused by name with a ValueError):

* ``backbone.stem``: ConvModule (Conv2d + BatchNorm2d + ReLU/ReLU6), streamed row by row;
* ``backbone.rnnpool``: RNNPool with FastGRNN cells, no padding, no ceil mode (streamed; its
  ``quant`` nonlinearities are exact, ``standard`` ones use sigmoid / tanh tables);
* ``backbone.rnnpool_pad``: ReplicationPad2d((0, 1, 0, 1)) (the stream's replicate padding);
* ``backbone.stages``: ConvModule (regular or depthwise) and mmdet InvertedResidual (no SE);
* ``backbone.source_layers``: ConvModule and mmdet L2Norm; a source taken from the stem
  (``stem_out_indices``, Face-Quant's stride-2 source) becomes a branch of the stream whose
  head is decoded row by row (its maps never exist whole);
* head: one anchor per location, a single 3x3 Conv2d per level for scores and for deltas,
  one foreground class (softmax; S3FD max-out background levels supported).

Quantisation: BatchNorm folded, weights per output channel, activations per tensor from the
min / max over the calibration images, mean / std normalisation (and BGR order) folded into
the first convolution, so the camera's raw RGB / grey pixels enter the model directly.
"""
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn

from .detect_tables import build_detect_level, score_to_q15
from .ir import (AddLayer, ConvLayer, DetectSpec, FastGRNNCell, L2NormLayer, LayerProgram,
                 MBConvLayer, ProgramStep, RNNPoolLayer, StreamHead, StreamSpec)
from .quantize import (ActQuant, RangeObserver, activation_tables, add_params, fold_batchnorm,
                       quantize_bias, quantize_multipliers, quantize_weights_per_channel,
                       sigmoid_q14)

Q14 = 1 << 14


@dataclass
class ExportResult:
    """What :func:`export_detector` returns.

    Args:
        program (LayerProgram): The quantised program.
        quant (dict[str, ActQuant]): Quantisation of every tensor.
        float_heads (dict[str, np.ndarray]): Float head outputs (HWC) of the first image.
        first_image (np.ndarray): The first calibration image (uint8 HWC, model size).
        geometry (list[dict]): Float anchor / coder parameters of each level.
    """

    program: LayerProgram
    quant: Dict[str, ActQuant]
    float_heads: Dict[str, np.ndarray]
    first_image: np.ndarray
    geometry: List[dict] = field(default_factory=list)


def _act_kind(module: nn.Module, where: str) -> Optional[str]:
    act = getattr(module, 'activate', None) if getattr(module, 'with_activation', False) else None
    if act is None:
        return None
    if type(act) is nn.ReLU:
        return 'relu'
    if type(act) is nn.ReLU6:
        return 'relu6'
    raise ValueError(f'{where}: activation {type(act).__name__} is not supported '
                     '(ReLU, ReLU6 or none)')


def _conv_module_parts(module: nn.Module, where: str):
    """(conv, bn or None, act) of an mmcv ConvModule or a plain Conv2d."""
    if isinstance(module, nn.Conv2d):
        return module, None, None
    if type(module).__name__ != 'ConvModule':
        raise ValueError(f'{where}: {type(module).__name__} is not supported here '
                         '(expected ConvModule or Conv2d)')
    order = getattr(module, 'order', ('conv', 'norm', 'act'))
    if tuple(order) != ('conv', 'norm', 'act'):
        raise ValueError(f'{where}: ConvModule order {order} is not supported')
    bn = module.norm if getattr(module, 'with_norm', False) else None
    if bn is not None and not isinstance(bn, nn.BatchNorm2d):
        raise ValueError(f'{where}: norm {type(bn).__name__} is not supported (BatchNorm2d)')
    return module.conv, bn, _act_kind(module, where)


def quantize_conv(module: nn.Module, where: str, name: str, in_shape, in_q: ActQuant,
                  out_q: ActQuant, input_transform=None) -> ConvLayer:
    """Quantises a ConvModule / Conv2d (BN folded) into a ConvLayer.

    Args:
        module (nn.Module): The module.
        where (str): Its path (for errors).
        name (str): Layer name.
        in_shape (tuple): Input ``(h, w, c)``.
        in_q (ActQuant): Input quantisation.
        out_q (ActQuant): Output quantisation.
        input_transform (tuple, optional): ``(mean, std, perm)`` of the folded input
            normalisation (first conv only). Defaults to None.

    Returns:
        ConvLayer: the layer.
    """
    conv, bn, act = _conv_module_parts(module, where)
    if not isinstance(conv, nn.Conv2d) or type(conv) is not nn.Conv2d:
        raise ValueError(f'{where}: {type(conv).__name__} is not supported (plain Conv2d)')
    if tuple(conv.dilation) != (1, 1) or conv.padding_mode != 'zeros':
        raise ValueError(f'{where}: dilation {conv.dilation} / padding_mode '
                         f'{conv.padding_mode!r} are not supported')
    if isinstance(conv.padding, str):
        raise ValueError(f'{where}: padding {conv.padding!r} is not supported (use integers)')
    cin, cout = conv.in_channels, conv.out_channels
    depthwise = conv.groups == cin and conv.groups == cout and conv.groups > 1
    if conv.groups != 1 and not depthwise:
        raise ValueError(f'{where}: grouped convolution (groups={conv.groups}) is not supported')
    w = conv.weight.detach().double().numpy()
    b = None if conv.bias is None else conv.bias.detach().double().numpy()
    if bn is not None:
        w, b = fold_batchnorm(w, b, bn.running_mean.numpy(), bn.running_var.numpy(),
                              None if bn.weight is None else bn.weight.detach().numpy(),
                              None if bn.bias is None else bn.bias.detach().numpy(), bn.eps)
    b = np.zeros(cout) if b is None else b
    pad_values = None
    if input_transform is not None:
        if depthwise:
            raise ValueError(f'{where}: a depthwise first convolution is not supported')
        mean_cam, std_cam, perm = input_transform
        w_cam = np.empty_like(w)
        w_cam[:, perm] = w  # model input channel k reads camera channel perm[k]
        w = w_cam / std_cam[None, :, None, None]
        b = b - (w * mean_cam[None, :, None, None]).sum(axis=(1, 2, 3))
        # the float model zero-pads the normalised input: a padded pixel is the mean colour
        pad_values = np.clip(np.round(mean_cam) - 128, -128, 127).astype(np.int8)
    wq, ws = quantize_weights_per_channel(w)
    mult, shift = quantize_multipliers(in_q.scale * ws / out_q.scale)
    kh, kw = conv.kernel_size
    sh, sw = conv.stride
    ph, pw = conv.padding
    h, wd, _ = in_shape
    oh = (h + 2 * ph - kh) // sh + 1
    ow = (wd + 2 * pw - kw) // sw + 1
    lo, hi = out_q.clamp(act)
    weights = wq[:, 0].transpose(1, 2, 0) if depthwise else wq.transpose(0, 2, 3, 1)
    return ConvLayer(name=name, in_shape=tuple(in_shape), out_shape=(oh, ow, cout),
                     weights=np.ascontiguousarray(weights), bias=quantize_bias(b, in_q.scale, ws),
                     multiplier=mult, rshift=shift, stride=(sh, sw), pad=(ph, pw),
                     input_offset=-in_q.zero_point, output_offset=out_q.zero_point,
                     act_min=lo, act_max=hi, pad_values=pad_values, depthwise=depthwise)


def _quantize_cell(cell: nn.Module, where: str, input_scale: float,
                   nonlinearity: str) -> FastGRNNCell:
    if type(cell).__name__ != 'FastGRNNCell' and not hasattr(cell, 'bias_gate'):
        raise ValueError(f'{where}: {type(cell).__name__} cells are not supported (FastGRNN)')
    w = cell.W.detach().double().numpy()
    u = cell.U.detach().double().numpy()
    wq, ws = quantize_weights_per_channel(w)
    uq, us = quantize_weights_per_channel(u)
    wm, wsh = quantize_multipliers(ws * input_scale * Q14)
    um, ush = quantize_multipliers(us)
    lim = 1 << 28
    bg = np.clip(np.round(cell.bias_gate.detach().double().numpy() * Q14), -lim, lim)
    bu = np.clip(np.round(cell.bias_update.detach().double().numpy() * Q14), -lim, lim)
    tables = {}
    if nonlinearity == 'standard':
        tables = dict(zip(('sigmoid_table', 'tanh_table'), activation_tables()))
    elif nonlinearity != 'quant':
        raise ValueError(f'{where}: nonlinearity {nonlinearity!r} is not supported')
    return FastGRNNCell(w=wq, w_multiplier=wm, w_rshift=wsh, u=uq, u_multiplier=um,
                        u_rshift=ush, bias_gate=bg.astype(np.int32),
                        bias_update=bu.astype(np.int32),
                        zeta_q14=sigmoid_q14(float(cell.zeta.detach())),
                        nu_q14=sigmoid_q14(float(cell.nu.detach())), **tables)


def quantize_rnnpool(module: nn.Module, where: str, in_shape, in_q: ActQuant,
                     out_q: ActQuant) -> RNNPoolLayer:
    """Quantises an RNNPool module (FastGRNN cells, Q14 state)."""
    if getattr(module, 'cell', 'fastgrnn') != 'fastgrnn':
        raise ValueError(f'{where}: cell {module.cell!r} is not supported (fastgrnn)')
    if tuple(module.padding) != (0, 0) or getattr(module, 'ceil_mode', False):
        raise ValueError(f'{where}: padding {tuple(module.padding)} / ceil_mode are not '
                         'supported (use padding=0)')
    kh, kw = module.kernel_size
    sh, sw = module.stride
    h, w, c = in_shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    if oh < 1 or ow < 1:
        raise ValueError(f'{where}: input {h}x{w} is smaller than the {kh}x{kw} patch')
    nl = getattr(module, 'nonlinearity', 'standard')
    # the runtime feeds RNN1 (q - zp) * 64 (see rp_rnnpool.c)
    rnn1 = _quantize_cell(module.rnn1, f'{where}.rnn1', in_q.scale / 64, nl)
    rnn2 = _quantize_cell(module.rnn2, f'{where}.rnn2', 1.0 / Q14, nl)
    om, osh = quantize_multipliers([1.0 / (Q14 * out_q.scale)])
    return RNNPoolLayer(name='rnnpool', in_shape=tuple(in_shape),
                        out_shape=(oh, ow, 4 * rnn2.hidden_size), patch=(kh, kw), stride=(sh, sw),
                        input_offset=-in_q.zero_point, rnn1=rnn1, rnn2=rnn2,
                        output_multiplier=int(om[0]), output_rshift=int(osh[0]),
                        output_offset=out_q.zero_point)


class _Observers:
    """Forward hooks that record the output range of named modules."""

    def __init__(self) -> None:
        self.ranges: Dict[str, RangeObserver] = {}
        self.handles = []
        self.last: Dict[str, torch.Tensor] = {}

    def watch(self, key: str, module: nn.Module) -> None:
        self.ranges[key] = RangeObserver(key)

        def hook(_mod, _inp, out, key=key):
            self.ranges[key].update(out.detach().numpy())
            self.last[key] = out.detach()

        self.handles.append(module.register_forward_hook(hook))

    def remove(self) -> None:
        for h in self.handles:
            h.remove()

    def quant(self, key: str) -> ActQuant:
        return self.ranges[key].act_quant()


def _check_supported(model: nn.Module) -> None:
    backbone = model.backbone
    if type(backbone).__name__ != 'RNNPoolS3FD':
        raise ValueError(f'backbone: {type(backbone).__name__} is not supported (RNNPoolS3FD)')
    head = model.bbox_head
    if head.num_classes != 1:
        raise ValueError(f'bbox_head.num_classes={head.num_classes}: only one class is supported')
    if getattr(head, 'use_sigmoid_cls', False):
        raise ValueError('bbox_head: sigmoid classifiers are not supported (softmax)')
    if any(n != 1 for n in head.num_base_priors):
        raise ValueError(f'bbox_head: {head.num_base_priors} anchors per location; only one is '
                         'supported')
    for kind in ('cls_convs', 'reg_convs'):
        for level, seq in enumerate(getattr(head, kind)):
            mods = list(seq) if isinstance(seq, nn.Sequential) else [seq]
            if len(mods) != 1 or type(mods[0]) is not nn.Conv2d:
                raise ValueError(f'bbox_head.{kind}[{level}]: only a single Conv2d is supported, '
                                 f'got {[type(m).__name__ for m in mods]}')


def _preprocess(model: nn.Module, images: Sequence[np.ndarray]):
    """Float input tensor (normalised, model channel order) and the folding transform."""
    pre = model.data_preprocessor
    mean = pre.mean.detach().double().numpy().reshape(-1)
    std = pre.std.detach().double().numpy().reshape(-1)
    c = images[0].shape[2]
    if len(mean) != c:
        raise ValueError(f'data_preprocessor: mean has {len(mean)} channels, the images {c}')
    # camera images are RGB; a model without bgr_to_rgb sees BGR: model channel k = camera
    # channel perm[k]
    perm = np.arange(c)
    if c == 3 and not getattr(pre, '_channel_conversion', False):
        perm = perm[::-1].copy()
    # mean / std are in the model's channel order; express them per camera channel
    mean_cam, std_cam = np.empty(c), np.empty(c)
    mean_cam[perm], std_cam[perm] = mean, std
    x = np.stack(images).astype(np.float64)[..., perm]
    x = (x - mean) / std
    tensor = torch.from_numpy(x).permute(0, 3, 1, 2).float()
    return tensor, (mean_cam, std_cam, perm)


def export_detector(model: nn.Module, images: Sequence[np.ndarray], name: str = 'model',
                    score_thr: float = 0.3, iou_thr: float = 0.45, max_candidates: int = 64,
                    max_dets: int = 16, log=print) -> ExportResult:
    """Calibrates, quantises and maps a detector onto a :class:`LayerProgram`.

    Args:
        model (nn.Module): An mmdet detector with an RNNPoolS3FD backbone (eval mode).
        images (Sequence[np.ndarray]): Calibration images, uint8 RGB/grey HWC, model size.
        name (str): Program name. Defaults to 'model'.
        score_thr (float): Score threshold. Defaults to 0.3.
        iou_thr (float): NMS IoU threshold. Defaults to 0.45.
        max_candidates (int): Bounded pre-NMS list size. Defaults to 64.
        max_dets (int): Detections out. Defaults to 16.
        log (callable): Progress printer. Defaults to print.

    Returns:
        ExportResult: the program, tensor quantisation, float heads of the first image.
    """
    model.eval()
    _check_supported(model)
    backbone, head = model.backbone, model.bbox_head
    h, w, c = images[0].shape
    if c != backbone.in_channels:
        raise ValueError(f'images have {c} channels, backbone.in_channels is '
                         f'{backbone.in_channels}')
    x, transform = _preprocess(model, images)
    obs = _Observers()
    for i, m in enumerate(backbone.stem):
        obs.watch(f'stem{i}', m)
    obs.watch('rnnpool', backbone.rnnpool)
    for i, stage in enumerate(backbone.stages):
        for j, m in enumerate(stage):
            key = f'stage{i}.{j}'
            obs.watch(key, m)
            if type(m).__name__ == 'InvertedResidual':
                if getattr(m, 'with_se', False):
                    raise ValueError(f'backbone.stages[{i}][{j}]: squeeze-excitation is not '
                                     'supported')
                if m.with_expand_conv:
                    obs.watch(f'{key}.expand', m.expand_conv)
                obs.watch(f'{key}.dw', m.depthwise_conv)
                obs.watch(f'{key}.project', m.linear_conv)
    for k, seq in enumerate(backbone.source_layers):
        for j, m in enumerate(seq):
            obs.watch(f'source{k}.{j}', m)
    for level in range(len(head.cls_convs)):
        obs.watch(f'head{level}_conf', head.cls_convs[level])
        obs.watch(f'head{level}_loc', head.reg_convs[level])
    log(f'  calibrating on {len(images)} image(s) of {w}x{h}x{c}')
    with torch.no_grad():
        for i in range(len(images)):
            feats = backbone(x[i:i + 1])
            head.forward_layers(feats)
            if i == 0:
                float_heads = {k: v[0].permute(1, 2, 0).numpy() for k, v in obs.last.items()
                               if k.startswith('head')}
    obs.remove()

    quant: Dict[str, ActQuant] = {}
    stages = []
    shape = (h, w, c)
    in_q = ActQuant(1.0, -128)  # pixel - 128, real = pixel
    for i, m in enumerate(backbone.stem):
        out_q = obs.quant(f'stem{i}')
        layer = quantize_conv(m, f'backbone.stem[{i}]', f'stem{i}', shape, in_q, out_q,
                              transform if i == 0 else None)
        stages.append(layer)
        shape, in_q = layer.out_shape, out_q
    if not stages:
        raise ValueError('backbone.stem is empty: the first layer must be a convolution (the '
                         'input normalisation is folded into it)')
    pool = quantize_rnnpool(backbone.rnnpool, 'backbone.rnnpool', shape, in_q,
                            obs.quant('rnnpool'))
    stages.append(pool)
    pad = 1 if getattr(backbone, 'replicate_pad', False) else 0
    if pad:
        pad_mod = backbone.rnnpool_pad
        if type(pad_mod) is not nn.ReplicationPad2d or tuple(pad_mod.padding) != (0, 1, 0, 1):
            raise ValueError('backbone.rnnpool_pad: only ReplicationPad2d((0, 1, 0, 1)) is '
                             'supported')
    quant['rnnpool'] = obs.quant('rnnpool')
    sources_of_stages = [i - 1 for i in range(len(stages))]
    num_stem = len(backbone.stem)
    for i in range(num_stem):
        quant[f'stem{i}'] = obs.quant(f'stem{i}')

    def source_layer(m, key, where, cur, cur_shape):
        if type(m).__name__ == 'L2Norm':
            out_q = obs.quant(key)
            weight = m.weight.detach().double().numpy()
            mult, shift = quantize_multipliers(weight / (out_q.scale * 2**22))
            layer = L2NormLayer(key, tuple(cur_shape), -quant[cur].zero_point, out_q.zero_point,
                                mult, shift)
            return layer, layer.shape
        layer = quantize_conv(m, where, key, cur_shape, quant[cur], obs.quant(key))
        return layer, layer.out_shape

    def head_convs(level, src, src_shape):
        convs = []
        for kind, mod in (('loc', head.reg_convs[level]), ('conf', head.cls_convs[level])):
            key = f'head{level}_{kind}'
            conv = mod[0] if isinstance(mod, nn.Sequential) else mod
            where = f'bbox_head.{"reg" if kind == "loc" else "cls"}_convs[{level}]'
            convs.append(quantize_conv(conv, where, key, src_shape, quant[src], obs.quant(key)))
            quant[key] = obs.quant(key)
        return convs

    # detection sources inside the stem: a branch of the stream, decoded row by row
    sources = []
    for k, stem_index in enumerate(backbone.stem_out_indices):
        cur, cur_shape, cur_stage = f'stem{stem_index}', stages[stem_index].out_shape, stem_index
        for j, m in enumerate(backbone.source_layers[k]):
            key, where = f'source{k}.{j}', f'backbone.source_layers[{k}][{j}]'
            layer, shape = source_layer(m, key, where, cur, cur_shape)
            quant[key] = obs.quant(key)
            stages.append(layer)
            sources_of_stages.append(cur_stage)
            cur, cur_shape, cur_stage = key, shape, len(stages) - 1
        loc, conf = head_convs(k, cur, cur_shape)
        stages.append(StreamHead(f'head{k}', loc, conf, k))
        sources_of_stages.append(cur_stage)
        sources.append((cur, cur_shape))
    stream = StreamSpec((h, w, c), stages, 'rnnpool', pad_bottom=pad, pad_right=pad,
                        sources=sources_of_stages, output_stage=num_stem)
    cur, cur_shape = 'rnnpool', stream.out_shape
    steps: List[ProgramStep] = []
    first = len(backbone.stem_out_indices)
    level_of_stage = {index: k for k, index in enumerate(backbone.out_indices, start=first)}
    for i, stage in enumerate(backbone.stages):
        for j, m in enumerate(stage):
            key, where = f'stage{i}.{j}', f'backbone.stages[{i}][{j}]'
            if type(m).__name__ == 'InvertedResidual':
                layer = _quantize_block(m, key, where, cur_shape, quant[cur], obs)
            else:
                layer = quantize_conv(m, where, key, cur_shape, quant[cur], obs.quant(key))
            quant[key] = obs.quant(key)
            steps.append(ProgramStep(layer, [cur], key))
            cur, cur_shape = key, layer.out_shape
        if i not in level_of_stage:
            continue
        # the level's source layers and heads run right away, so their maps die early
        k = level_of_stage[i]
        src, src_shape = cur, cur_shape
        for j, m in enumerate(backbone.source_layers[k]):
            key, where = f'source{k}.{j}', f'backbone.source_layers[{k}][{j}]'
            layer, shape = source_layer(m, key, where, src, src_shape)
            quant[key] = obs.quant(key)
            steps.append(ProgramStep(layer, [src], key))
            src, src_shape = key, shape
        for conv in head_convs(k, src, src_shape):
            steps.append(ProgramStep(conv, [src], conv.name))
        sources.append((src, src_shape))
    levels, geometry = [], []
    coder = head.bbox_coder
    stds, means = list(map(float, coder.stds)), list(map(float, coder.means))
    clip = float(getattr(coder, 'wh_ratio_clip', 16 / 1000))
    for level, (src, src_shape) in enumerate(sources):
        fh, fw = src_shape[:2]
        priors = head.prior_generator.single_level_grid_priors(
            (fh, fw), level_idx=level, device='cpu').double().numpy()
        if len(priors) != fh * fw:
            raise ValueError(f'bbox_head level {level}: {len(priors)} anchors for a {fh}x{fw} '
                             'map (one per location expected)')
        aw, ah = priors[0, 2] - priors[0, 0], priors[0, 3] - priors[0, 1]
        cx0, cy0 = (priors[0, 0] + priors[0, 2]) / 2, (priors[0, 1] + priors[0, 3]) / 2
        strides = head.prior_generator.strides[level]
        step_x = (priors[1, 0] - priors[0, 0]) if fw > 1 else strides[0]
        step_y = (priors[fw, 1] - priors[0, 1]) if fh > 1 else strides[1]
        lv = build_detect_level(f'head{level}_loc', f'head{level}_conf', quant[f'head{level}_loc'],
                                quant[f'head{level}_conf'], aw, ah, step_x, step_y,
                                center_offset=0.0, fg_index=0, means=means, stds=stds,
                                wh_ratio_clip=clip)
        lv.anchor_x0, lv.anchor_y0 = int(round(16 * cx0)), int(round(16 * cy0))
        levels.append(lv)
        geometry.append(dict(anchor_w=aw, anchor_h=ah, cx0=cx0, cy0=cy0, step_x=step_x,
                             step_y=step_y, means=means, stds=stds, wh_ratio_clip=clip))
    detect = DetectSpec(levels, score_to_q15(score_thr), score_to_q15(iou_thr), max_candidates,
                        max_dets)
    program = LayerProgram(name, stream, steps, detect)
    program.infer_shapes()
    return ExportResult(program, quant, float_heads, np.asarray(images[0]), geometry)


def _quantize_block(m: nn.Module, key: str, where: str, in_shape, in_q: ActQuant,
                    obs: _Observers) -> MBConvLayer:
    expand = None
    shape, q = in_shape, in_q
    if m.with_expand_conv:
        expand = quantize_conv(m.expand_conv, f'{where}.expand_conv', f'{key}.expand', shape, q,
                               obs.quant(f'{key}.expand'))
        shape, q = expand.out_shape, obs.quant(f'{key}.expand')
    dw = quantize_conv(m.depthwise_conv, f'{where}.depthwise_conv', f'{key}.dw', shape, q,
                       obs.quant(f'{key}.dw'))
    if not dw.depthwise:
        raise ValueError(f'{where}.depthwise_conv is not depthwise')
    dq = obs.quant(f'{key}.dw')
    pq = obs.quant(f'{key}.project')
    project = quantize_conv(m.linear_conv, f'{where}.linear_conv', f'{key}.project',
                            dw.out_shape, dq, pq)
    residual = None
    if m.with_res_shortcut:
        out_q = obs.quant(key)
        residual = AddLayer(f'{key}.add', tuple(project.out_shape), -in_q.zero_point,
                            -pq.zero_point, output_offset=out_q.zero_point,
                            **add_params(in_q.scale, pq.scale, out_q.scale))
    return MBConvLayer(key, expand, dw, project, residual)


def float_detections(heads: Dict[str, np.ndarray], program: LayerProgram,
                     geometry: Sequence[dict], img_w: int, img_h: int, score_thr: float,
                     iou_thr: float, max_dets: int) -> np.ndarray:
    """Float decode + NMS of float head outputs, the same algorithm as the C (for comparison).

    Args:
        heads (dict[str, np.ndarray]): Float head outputs (HWC) by tensor name.
        program (LayerProgram): The program (level tensor names, fg index).
        geometry (Sequence[dict]): Per level anchors and coder parameters.
        img_w (int): Image width.
        img_h (int): Image height.
        score_thr (float): Score threshold.
        iou_thr (float): NMS IoU threshold.
        max_dets (int): Detections out.

    Returns:
        np.ndarray: ``(n, 5)`` x1, y1, x2, y2 (pixels), score.
    """
    boxes, scores = [], []
    for lv, geo in zip(program.detect.levels, geometry):
        loc, conf = heads[lv.loc], heads[lv.conf]
        fh, fw = conf.shape[:2]
        fg = conf[..., lv.fg_index]
        bg = np.delete(conf, lv.fg_index, axis=2).max(axis=2)
        score = 1.0 / (1.0 + np.exp(-(fg - bg)))
        ys, xs = np.meshgrid(np.arange(fh), np.arange(fw), indexing='ij')
        aw, ah = geo['anchor_w'], geo['anchor_h']
        m, s = geo['means'], geo['stds']
        cx = geo['cx0'] + xs * geo['step_x'] + (loc[..., 0] * s[0] + m[0]) * aw
        cy = geo['cy0'] + ys * geo['step_y'] + (loc[..., 1] * s[1] + m[1]) * ah
        max_ratio = abs(math.log(geo['wh_ratio_clip']))
        bw = aw * np.exp(np.clip(loc[..., 2] * s[2] + m[2], -max_ratio, max_ratio))
        bh = ah * np.exp(np.clip(loc[..., 3] * s[3] + m[3], -max_ratio, max_ratio))
        b = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1).reshape(-1, 4)
        b[:, 0::2] = b[:, 0::2].clip(0, img_w)
        b[:, 1::2] = b[:, 1::2].clip(0, img_h)
        boxes.append(b)
        scores.append(score.reshape(-1))
    boxes, scores = np.concatenate(boxes), np.concatenate(scores)
    order = np.argsort(-scores, kind='stable')
    kept = []
    for i in order:
        if scores[i] < score_thr or len(kept) >= max_dets:
            break
        if all(box_iou(boxes[i], boxes[k]) <= iou_thr for k in kept):
            kept.append(i)
    return np.concatenate([boxes[kept], scores[kept, None]], 1) if kept else np.zeros((0, 5))


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two ``(x1, y1, x2, y2)`` boxes."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


__all__ = ['ExportResult', 'export_detector', 'quantize_conv', 'quantize_rnnpool',
           'float_detections', 'box_iou']
