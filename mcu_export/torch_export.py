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
* head: one anchor per location, per level a Conv2d for scores and one for deltas, each
  optionally after ConvModules (``S3FDHead.branch_convs``, Face-Quant's first head); one
  foreground class (softmax; S3FD max-out background levels supported). The score and box
  branches' ConvModules are merged into one convolution with their output channels side by
  side (the same input, so the same function), and the last convs read their half of it
  through zero weights on the other half: a branched head is a plain chain of convolutions
  and a head stage, streamed or whole-map, with no new C kernel.

Quantisation: BatchNorm folded, weights per output channel, activations per tensor from the
min / max over the calibration images, mean / std normalisation (and BGR order) folded into
the first convolution, so the camera's raw RGB / grey pixels enter the model directly.
"""
import copy
import math
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn

from .detect_tables import build_detect_level, score_to_q15
from .ir import (AddLayer, ConvLayer, DetectSpec, FastGRNNCell, L2NormLayer, LayerProgram,
                 MBConvLayer, ProgramStep, RNNPoolLayer, StreamHead, StreamSpec)
from .planner import detect_order
from .quantize import (ActQuant, RangeObserver, activation_tables, add_params, fold_batchnorm,
                       quantize_bias, quantize_multipliers, quantize_weights_per_channel,
                       sigmoid_q14)
from .reference import detect, run_program

Q14 = 1 << 14
MAX_EQUALIZE_SCALE = 64.0  # largest channel scale of equalize_blocks


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
    """Forward hooks that record the output range of named modules.

    Args:
        percentile (float, optional): Range percentile of the inner tensors (see
            :class:`RangeObserver`); the head outputs always keep min / max, since clipping
            a logit or a box delta moves a detection. Defaults to None (min / max).
    """

    def __init__(self, percentile: Optional[float] = None) -> None:
        self.percentile = percentile
        self.ranges: Dict[str, RangeObserver] = {}
        self.handles = []
        self.last: Dict[str, torch.Tensor] = {}

    def watch(self, key: str, module: nn.Module) -> None:
        self.ranges[key] = RangeObserver(
            key, None if key.startswith('head') else self.percentile)

        def hook(_mod, _inp, out, key=key):
            self.ranges[key].update(out.detach().numpy())
            self.last[key] = out.detach()

        self.handles.append(module.register_forward_hook(hook))

    def remove(self) -> None:
        for h in self.handles:
            h.remove()

    def quant(self, key: str) -> ActQuant:
        return self.ranges[key].act_quant()


def _watch_tensors(model: nn.Module, percentile: Optional[float] = None) -> '_Observers':
    """Forward hooks on every module whose output becomes a program tensor (by its name)."""
    backbone, head = model.backbone, model.bbox_head
    obs = _Observers(percentile)
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
        for kind, seq in (('loc', head.reg_convs[level]), ('conf', head.cls_convs[level])):
            for j, m in enumerate(_head_modules(seq)[:-1]):
                obs.watch(f'branch{level}_{kind}.{j}', m)
    return obs


def _head_modules(seq: nn.Module) -> List[nn.Module]:
    return list(seq) if isinstance(seq, nn.Sequential) else [seq]


def _check_head_branches(head: nn.Module, level: int) -> int:
    """Number of branch ConvModules of a level (the same geometry in both branches)."""
    loc = _head_modules(head.reg_convs[level])
    conf = _head_modules(head.cls_convs[level])
    for kind, mods in (('reg_convs', loc), ('cls_convs', conf)):
        where = f'bbox_head.{kind}[{level}]'
        if type(mods[-1]) is not nn.Conv2d:
            raise ValueError(f'{where}: the last layer must be a Conv2d, got '
                             f'{type(mods[-1]).__name__}')
        for j, m in enumerate(mods[:-1]):
            conv, _, _ = _conv_module_parts(m, f'{where}[{j}]')
            if conv.groups != 1:
                raise ValueError(f'{where}[{j}]: grouped head convs are not supported')
    if len(loc) != len(conf):
        raise ValueError(f'bbox_head level {level}: {len(loc) - 1} box-branch convs but '
                         f'{len(conf) - 1} score-branch convs (must be equal)')
    for j, (ml, mc) in enumerate(zip(loc, conf)):
        cl, cc = (m if isinstance(m, nn.Conv2d) else m.conv for m in (ml, mc))
        geo_l = (cl.kernel_size, cl.stride, cl.padding, cl.dilation)
        geo_c = (cc.kernel_size, cc.stride, cc.padding, cc.dilation)
        if geo_l != geo_c:
            raise ValueError(f'bbox_head level {level}: conv {j} of the box branch '
                             f'(kernel, stride, padding, dilation) {geo_l} differs from the '
                             f'score branch\'s {geo_c}')
        if j < len(loc) - 1:
            kinds = [_conv_module_parts(m, f'bbox_head level {level} conv {j}')[1:]
                     for m in (ml, mc)]
            if (kinds[0][0] is None) != (kinds[1][0] is None) or kinds[0][1] != kinds[1][1]:
                raise ValueError(f'bbox_head level {level}: conv {j} has a different norm / '
                                 'activation in the box and the score branch')
    return len(loc) - 1


def merge_head_branches(head: nn.Module, level: int):
    """A level's head as one chain: merged branch ConvModules, then the last loc / conf convs.

    Branch conv ``j`` of the box and the score branch becomes one ConvModule whose output
    channels are the box branch's then the score branch's (the first reads their common input;
    a later one is block-diagonal); the last loc conv reads the box half (zero weights on the
    score half) and the last conf conv the score half. The float function is unchanged.

    Args:
        head (nn.Module): The S3FD / SSD head.
        level (int): Level.

    Returns:
        tuple[list[nn.Module], nn.Conv2d, nn.Conv2d]: merged ConvModules (copies), the loc and
        the conf convs (the originals when the level has no branch convs).
    """
    loc = _head_modules(head.reg_convs[level])
    conf = _head_modules(head.cls_convs[level])
    merged = []
    split = None  # input channels of the box half of the current merged map
    with torch.no_grad():
        for j, (ml, mc) in enumerate(zip(loc[:-1], conf[:-1])):
            (cl, bl, _), (cc, bc, _) = (_conv_module_parts(m, f'bbox_head level {level}')
                                        for m in (ml, mc))
            cout = cl.out_channels + cc.out_channels
            cin = cl.in_channels if split is None else cl.in_channels + cc.in_channels
            conv = nn.Conv2d(cin, cout, cl.kernel_size, cl.stride, cl.padding,
                             bias=cl.bias is not None or cc.bias is not None)
            conv.weight.zero_()
            if split is None:
                conv.weight[:cl.out_channels] = cl.weight
                conv.weight[cl.out_channels:] = cc.weight
            else:
                conv.weight[:cl.out_channels, :split] = cl.weight
                conv.weight[cl.out_channels:, split:] = cc.weight
            if conv.bias is not None:
                conv.bias.copy_(torch.cat([b.bias if b.bias is not None else
                                           torch.zeros(b.out_channels) for b in (cl, cc)]))
            module = copy.deepcopy(ml)
            module.conv = conv
            if bl is not None:
                bn = nn.BatchNorm2d(cout, eps=bl.eps, affine=bl.affine).eval()
                for name in ('running_mean', 'running_var'):
                    getattr(bn, name).copy_(torch.cat([getattr(bl, name), getattr(bc, name)]))
                if bl.affine:
                    bn.weight.copy_(torch.cat([bl.weight, bc.weight]))
                    bn.bias.copy_(torch.cat([bl.bias, bc.bias]))
                setattr(module, module.norm_name, bn)
            merged.append(module)
            split = cl.out_channels
        if split is None:
            return merged, loc[-1], conf[-1]
        lasts = []
        for last, half in ((loc[-1], slice(0, split)), (conf[-1], slice(split, None))):
            cin = split + conf[-2].conv.out_channels
            conv = nn.Conv2d(cin, last.out_channels, last.kernel_size, last.stride,
                             last.padding, bias=last.bias is not None)
            conv.weight.zero_()
            conv.weight[:, half] = last.weight
            if last.bias is not None:
                conv.bias.copy_(last.bias)
            lasts.append(conv)
    return merged, lasts[0], lasts[1]


def check_supported(model: nn.Module) -> None:
    """Raise a one-line ``ValueError`` naming the first module (path and type) the exporter
    cannot map, before any calibration work."""
    _check_supported(model)


def _check_supported(model: nn.Module) -> None:
    for part in ('backbone', 'bbox_head'):
        if not isinstance(getattr(model, part, None), nn.Module):
            raise ValueError(f'{type(model).__name__}: a single-stage detector with a {part} is '
                             'needed (RNNPoolS3FD backbone, S3FD head)')
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
    for level in range(len(head.cls_convs)):
        _check_head_branches(head, level)


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
                    max_dets: int = 16, act_percentile: Optional[float] = None,
                    bias_correction_images: int = 8, equalize: bool = True,
                    log=print) -> ExportResult:
    """Calibrates, quantises and maps a detector onto a :class:`LayerProgram`.

    Args:
        model (nn.Module): An mmdet detector with an RNNPoolS3FD backbone (eval mode).
        images (Sequence[np.ndarray]): Calibration images, uint8 RGB/grey HWC, model size.
        name (str): Program name. Defaults to 'model'.
        score_thr (float): Score threshold. Defaults to 0.3.
        iou_thr (float): NMS IoU threshold. Defaults to 0.45.
        max_candidates (int): Bounded pre-NMS list size. Defaults to 64.
        max_dets (int): Detections out. Defaults to 16.
        act_percentile (float, optional): Calibrate the inner activations' ranges on this
            per-image percentile instead of min / max (head outputs keep min / max).
            Defaults to None.
        bias_correction_images (int): Calibration images on which each layer's mean
            per-channel output error (integer program vs float model, upstream errors
            included) is measured and cancelled through its int32 bias, layer by layer in
            execution order; 0 disables it. Defaults to 8.
        equalize (bool): Equalise the channel ranges inside inverted residual blocks first
            (:func:`equalize_blocks`, on a copy of the model). Defaults to True.
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
    min_size = (getattr(head, 'test_cfg', None) or {}).get('min_bbox_size', 0)
    if min_size is not None and min_size > 0:
        log(f'  note: bbox_head.test_cfg.min_bbox_size={min_size}; the C drops only boxes that '
            'are empty after clipping (min_bbox_size = 0)')
    x, transform = _preprocess(model, images)
    if equalize:
        # on a copy: the float function is the same, but the caller keeps its weights
        model = copy.deepcopy(model)
        backbone, head = model.backbone, model.bbox_head
        count = equalize_blocks(model, x[:max(bias_correction_images, 8)])
        log(f'  equalised the channel ranges of {count} inverted residual block(s)')
    obs = _watch_tensors(model, act_percentile)
    log(f'  calibrating on {len(images)} image(s) of {w}x{h}x{c}')
    float_maps = []  # float tensors (HWC) of the first images, for the bias correction
    with torch.no_grad():
        for i in range(len(images)):
            feats = backbone(x[i:i + 1])
            head.forward_layers(feats)
            if i == 0:
                float_heads = {k: v[0].permute(1, 2, 0).numpy() for k, v in obs.last.items()
                               if k.startswith('head')}
            if i < bias_correction_images:
                float_maps.append({k: v[0].permute(1, 2, 0).numpy().astype(np.float64)
                                   for k, v in obs.last.items()})
    obs.remove()
    # merged head branch convs (merge_head_branches): the range and the float maps of both
    # halves side by side
    for level in range(len(head.cls_convs)):
        for j in range(_check_head_branches(head, level)):
            halves = [f'branch{level}_{kind}.{j}' for kind in ('loc', 'conf')]
            merged = obs.ranges[f'branch{level}.{j}'] = RangeObserver(f'branch{level}.{j}')
            merged.lo = min(obs.ranges[key].lo for key in halves)
            merged.hi = max(obs.ranges[key].hi for key in halves)
            for maps in float_maps:
                maps[f'branch{level}.{j}'] = np.concatenate([maps[k] for k in halves], axis=2)

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
        """The level's merged branch convs (chained, ``(layer, input name)``) and the last
        loc / conf convs on the last map."""
        merged, loc, conf = merge_head_branches(head, level)
        branch = []
        for j, m in enumerate(merged):
            key = f'branch{level}.{j}'
            layer = quantize_conv(m, f'bbox_head level {level} branch conv {j}', key, src_shape,
                                  quant[src], obs.quant(key))
            quant[key] = obs.quant(key)
            branch.append((layer, src))
            src, src_shape = key, layer.out_shape
        convs = []
        for kind, conv in (('loc', loc), ('conf', conf)):
            key = f'head{level}_{kind}'
            where = f'bbox_head.{"reg" if kind == "loc" else "cls"}_convs[{level}]'
            convs.append(quantize_conv(conv, where, key, src_shape, quant[src], obs.quant(key)))
            quant[key] = obs.quant(key)
        return branch, convs

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
        branch, (loc, conf) = head_convs(k, cur, cur_shape)
        for layer, _ in branch:
            stages.append(layer)
            sources_of_stages.append(cur_stage)
            cur_stage = len(stages) - 1
        stages.append(StreamHead(f'head{k}', loc, conf, k))
        sources_of_stages.append(cur_stage)
        sources.append((loc.name, loc.out_shape))
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
        branch, convs = head_convs(k, src, src_shape)
        for layer, layer_src in branch:
            steps.append(ProgramStep(layer, [layer_src], layer.name))
            src = layer.name
        for conv in convs:
            steps.append(ProgramStep(conv, [src], conv.name))
        sources.append((convs[0].name, convs[0].out_shape))
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
    # every observed tensor, inner block ones included (for the bias correction and analyses)
    quant.update({k: obs.quant(k) for k in obs.ranges if k not in quant})
    if float_maps:
        log(f'  bias correction on {len(float_maps)} image(s)')
        correct_biases(program, quant, images[:len(float_maps)], float_maps)
    return ExportResult(program, quant, float_heads, np.asarray(images[0]), geometry)


def _scale_output_channels(module: nn.Module, scale: torch.Tensor) -> None:
    """Multiplies a ConvModule's (BN-folded) output channels by ``scale`` (> 0)."""
    conv, bn, _ = _conv_module_parts(module, 'equalisation')
    if bn is not None:
        bn.weight.data *= scale
        bn.bias.data *= scale
    else:
        conv.weight.data *= scale.view(-1, 1, 1, 1)
        if conv.bias is not None:
            conv.bias.data *= scale


def equalize_blocks(model: nn.Module, inputs: torch.Tensor) -> int:
    """Equalises the per-channel activation ranges inside inverted residual blocks (in place).

    int8 activations are per tensor, so a channel whose range is a tenth of its tensor's
    keeps three bits; the expanded and depthwise maps of MobileNetV2 blocks are the worst.
    ReLU commutes with positive scaling (blocks with other activations are left alone), so
    expanded channel ``c`` is scaled by
    ``r_max / r_c`` (its calibrated max) and the depthwise filter ``c`` by the inverse: the
    float function is unchanged, and with per-channel weights the weight precision too. The
    depthwise outputs are scaled by ``sqrt(r_max / r_c)`` against the projection's input
    columns (which share per-output-channel weight scales, hence only half way).

    Args:
        model (nn.Module): Detector with an RNNPoolS3FD backbone (modified in place).
        inputs (torch.Tensor): Normalised calibration inputs ``(n, c, h, w)``.

    Returns:
        int: Number of blocks equalised.
    """
    def relu_after(module):  # ReLU6 and others do not commute with scaling
        return (getattr(module, 'with_activation', False)
                and type(getattr(module, 'activate', None)) is nn.ReLU
                and (not getattr(module, 'with_norm', False)
                     or (isinstance(module.norm, nn.BatchNorm2d) and module.norm.affine)))

    blocks = [m for stage in model.backbone.stages for m in stage
              if type(m).__name__ == 'InvertedResidual' and m.with_expand_conv
              and relu_after(m.expand_conv) and relu_after(m.depthwise_conv)
              and type(m.depthwise_conv.conv) is nn.Conv2d
              and type(m.linear_conv.conv) is nn.Conv2d]
    maxima: Dict[int, Dict[str, torch.Tensor]] = {}
    handles = []
    for i, block in enumerate(blocks):
        maxima[i] = {}
        for key, mod in (('expand', block.expand_conv), ('dw', block.depthwise_conv)):
            def hook(_mod, _inp, out, i=i, key=key):
                cur = out.detach().amax(dim=(0, 2, 3))
                prev = maxima[i].get(key)
                maxima[i][key] = cur if prev is None else torch.maximum(prev, cur)
            handles.append(mod.register_forward_hook(hook))
    with torch.no_grad():
        for n in range(len(inputs)):
            model.bbox_head.forward_layers(model.backbone(inputs[n:n + 1]))
    for h in handles:
        h.remove()
    with torch.no_grad():
        for i, block in enumerate(blocks):
            # capped: a nearly dead channel is not worth a huge multiplier downstream
            r = maxima[i]['expand'].double()
            s = (r.max() / r.clamp_min(1e-12)).clamp(1.0, MAX_EQUALIZE_SCALE)
            _scale_output_channels(block.expand_conv, s.float())
            block.depthwise_conv.conv.weight.data /= s.float().view(-1, 1, 1, 1)
            r = maxima[i]['dw'].double()
            t = (r.max() / r.clamp_min(1e-12)).sqrt().clamp(1.0, MAX_EQUALIZE_SCALE**0.5)
            _scale_output_channels(block.depthwise_conv, t.float())
            block.linear_conv.conv.weight.data /= t.float().view(1, -1, 1, 1)
    return len(blocks)


def _bias_correct(layer: ConvLayer, x: np.ndarray, floats: Sequence[np.ndarray],
                  out_q: ActQuant, run_conv) -> None:
    """Cancels ``layer``'s mean per-channel output error through its int32 bias (in place).

    Args:
        layer (ConvLayer): The layer (its bias is replaced).
        x (list[np.ndarray]): Its integer inputs, one per image.
        floats (list[np.ndarray]): The float model's outputs, one per image.
        out_q (ActQuant): Output quantisation.
        run_conv (callable): The reference convolution.
    """
    err_sum = np.zeros(layer.out_shape[2])
    count = np.zeros(layer.out_shape[2])
    lo = out_q.dequantize(np.array(layer.act_min)) if layer.act_min > -128 else -np.inf
    for xi, f in zip(x, floats):
        d = out_q.dequantize(run_conv(layer, xi)) - f
        # where a fused ReLU clamps, the pre-activation error is not observable
        valid = f > lo + out_q.scale
        err_sum += (d * valid).sum(axis=(0, 1))
        count += valid.sum(axis=(0, 1))
    err = np.where(count > 0, err_sum / np.maximum(count, 1), 0.0)
    # one accumulator unit is out_scale * multiplier / 2^(31 + rshift - 31) output units
    acc_per_real = 2.0**layer.rshift.astype(np.float64) / (
        layer.multiplier.astype(np.float64) * out_q.scale)
    bias = layer.bias.astype(np.int64) - np.round(err * acc_per_real).astype(np.int64)
    layer.bias = np.clip(bias, -2**31, 2**31 - 1).astype(np.int32)


def correct_biases(program: LayerProgram, quant: Dict[str, ActQuant],
                   images: Sequence[np.ndarray], float_maps: Sequence[Dict[str, np.ndarray]]
                   ) -> None:
    """Empirical bias correction of every convolution of a program (in place).

    Layer by layer in execution order, the integer reference runs on the images with the
    already corrected layers upstream; each convolution's mean per-channel error against the
    float model (whose outputs are named like the program's layers) is removed from its bias.
    Rounding and clipping of int8 activations are biased (a ReLU after a noisy input, the
    rounding of small weights), and that bias, unlike the noise, adds up layer after layer.

    Args:
        program (LayerProgram): The program (its layers' biases are replaced).
        quant (dict[str, ActQuant]): Quantisation of every tensor.
        images (Sequence[np.ndarray]): uint8 HWC images.
        float_maps (Sequence[dict]): The float model's tensors (HWC) of each image, by layer
            name (:func:`_watch_tensors`).
    """
    from .reference import add, conv2d, l2norm, rnnpool

    def corrected(layer, xs):
        if layer.name in float_maps[0] and layer.bias is not None:
            _bias_correct(layer, xs, [m[layer.name] for m in float_maps], quant[layer.name],
                          conv2d)
        return [conv2d(layer, xi) for xi in xs]

    stream = program.stream
    camera = [(im.astype(np.int16) - 128).astype(np.int8) for im in images]
    maps: List[Optional[list]] = []
    for stage, src in zip(stream.stages, stream.srcs):
        xs = camera if src == -1 else maps[src]
        if isinstance(stage, StreamHead):
            corrected(stage.loc, xs)
            corrected(stage.conf, xs)
            maps.append(None)
        elif isinstance(stage, RNNPoolLayer):
            maps.append([rnnpool(stage, xi) for xi in xs])
        elif isinstance(stage, L2NormLayer):
            maps.append([l2norm(stage, xi) for xi in xs])
        else:
            maps.append(corrected(stage, xs))
    pad = ((0, stream.pad_bottom), (0, stream.pad_right), (0, 0))
    tensors = {stream.output: [np.pad(m, pad, mode='edge') for m in maps[stream.out_index]]}
    for step in program.steps:
        layer, xs = step.layer, tensors[step.inputs[0]]
        if isinstance(layer, MBConvLayer):
            ys = corrected(layer.expand, xs) if layer.expand is not None else xs
            ys = corrected(layer.project, corrected(layer.depthwise, ys))
            if layer.residual is not None:
                ys = [add(layer.residual, xi, yi) for xi, yi in zip(xs, ys)]
        elif isinstance(layer, L2NormLayer):
            ys = [l2norm(layer, xi) for xi in xs]
        elif isinstance(layer, ConvLayer):
            ys = corrected(layer, xs)
        else:
            raise ValueError(f'bias correction: layer {layer.name!r} of kind '
                             f'{type(layer).__name__} is not supported')
        tensors[step.output] = ys


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

    Like the C, boxes with zero width or height once clipped to the image are dropped (mmdet
    does the same with ``min_bbox_size=0``, the configs' setting).

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
        # like the C (and mmdet's min_bbox_size = 0): boxes empty after clipping are dropped
        score = np.where((b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1]), score.reshape(-1), -1.0)
        boxes.append(b)
        scores.append(score)
    boxes, scores = np.concatenate(boxes), np.concatenate(scores)
    order = np.argsort(-scores, kind='stable')
    kept = []
    for i in order:
        if scores[i] < score_thr or len(kept) >= max_dets:
            break
        if all(box_iou(boxes[i], boxes[k]) <= iou_thr for k in kept):
            kept.append(i)
    return np.concatenate([boxes[kept], scores[kept, None]], 1) if kept else np.zeros((0, 5))


def float_head_outputs(model: nn.Module, images: Sequence[np.ndarray]
                       ) -> List[Dict[str, np.ndarray]]:
    """Float head outputs (HWC, named like the program's head tensors) of each image.

    The images go through the same normalisation as the exported program's folded first
    convolution; the raw conv outputs are taken (S3FD max-out is applied by the decoder,
    :func:`float_detections`, exactly as the C does).

    Args:
        model (nn.Module): The detector (eval mode).
        images (Sequence[np.ndarray]): uint8 RGB / grey HWC images of the model's size.

    Returns:
        list[dict[str, np.ndarray]]: ``head{level}_loc`` / ``head{level}_conf`` per image.
    """
    model.eval()
    head = model.bbox_head
    outputs: Dict[str, np.ndarray] = {}
    handles = []
    for level in range(len(head.cls_convs)):
        for kind, mod in (('conf', head.cls_convs[level]), ('loc', head.reg_convs[level])):
            def hook(_mod, _inp, out, key=f'head{level}_{kind}'):
                outputs[key] = out[0].detach().permute(1, 2, 0).numpy()
            handles.append(mod.register_forward_hook(hook))
    result = []
    try:
        with torch.no_grad():
            for image in images:
                x, _ = _preprocess(model, [image])
                head.forward_layers(model.backbone(x))
                result.append(dict(outputs))
    finally:
        for handle in handles:
            handle.remove()
    return result


def match_detections(reference: np.ndarray, other: np.ndarray) -> List[tuple]:
    """Greedy one-to-one matching by IoU, in decreasing reference score.

    Args:
        reference (np.ndarray): ``(n, 5)`` boxes + score (e.g. the float model's).
        other (np.ndarray): ``(m, 5)`` boxes + score (e.g. the int8 program's).

    Returns:
        list[tuple]: ``(i, j, iou)`` per reference detection; ``j = -1``, ``iou = 0`` when
        nothing is left to match it.
    """
    used = set()
    pairs = []
    for i in np.argsort(-reference[:, 4], kind='stable') if len(reference) else []:
        best, best_iou = -1, 0.0
        for j in range(len(other)):
            if j not in used:
                iou = box_iou(reference[i, :4], other[j, :4])
                if iou > best_iou:
                    best, best_iou = j, iou
        if best >= 0:
            used.add(best)
        pairs.append((int(i), best, best_iou))
    return pairs


def detection_parity(float_dets: Sequence[np.ndarray], int_dets: Sequence[np.ndarray],
                     score_thr: float, score_margin: float = 0.1,
                     iou_thr: float = 0.9) -> dict:
    """Float-vs-int8 detection agreement over images.

    A float detection with score >= ``score_thr`` is *matched* when the int8 detections
    (down to ``score_thr - score_margin``, so that a score just across the threshold is not
    counted as a miss) hold a box with IoU >= ``iou_thr`` (greedy one-to-one matching); the
    same is measured the other way round (int8 detections >= ``score_thr`` against float
    ones down to the margin).

    Args:
        float_dets (Sequence[np.ndarray]): Per image ``(n, 5)`` float detections, decoded
            down to ``score_thr - score_margin``.
        int_dets (Sequence[np.ndarray]): Per image ``(m, 5)`` int8 detections (pixels,
            probability score), decoded down to the same threshold.
        score_thr (float): Detections counted from this score.
        score_margin (float): Score tolerance of the partner detection. Defaults to 0.1.
        iou_thr (float): IoU of a match. Defaults to 0.9.

    Returns:
        dict: counts, matched fractions both ways, IoU and score-difference statistics.
    """
    ious, score_diffs, missed_scores = [], [], []
    n_float = n_int = int_matched = 0
    for fd, idt in zip(float_dets, int_dets):
        fd, idt = np.asarray(fd).reshape(-1, 5), np.asarray(idt).reshape(-1, 5)
        low = score_thr - score_margin
        fd, idt = fd[fd[:, 4] >= low], idt[idt[:, 4] >= low]
        fsel, isel = fd[fd[:, 4] >= score_thr], idt[idt[:, 4] >= score_thr]
        n_float += len(fsel)
        n_int += len(isel)
        for i, j, iou in match_detections(fsel, idt):
            ious.append(iou)
            if iou >= iou_thr:
                score_diffs.append(float(idt[j, 4] - fsel[i, 4]))
            else:
                missed_scores.append(float(fsel[i, 4]))
        int_matched += sum(iou >= iou_thr for _, _, iou in match_detections(isel, fd))
    ious = np.asarray(ious)
    matched = int((ious >= iou_thr).sum())
    diffs = np.abs(score_diffs) if score_diffs else np.zeros(1)
    return dict(
        images=len(float_dets), score_thr=score_thr, score_margin=score_margin,
        iou_thr=iou_thr, float_detections=n_float, int_detections=n_int, matched=matched,
        iou_ge_thr_fraction=round(matched / n_float, 4) if n_float else None,
        iou_ge_0_5_fraction=(round(float((ious >= 0.5).sum()) / n_float, 4) if n_float
                             else None),
        int_matched=int(int_matched),
        int_iou_ge_thr_fraction=round(int_matched / n_int, 4) if n_int else None,
        mean_iou=round(float(ious.mean()), 4) if len(ious) else None,
        median_iou=round(float(np.median(ious)), 4) if len(ious) else None,
        score_abs_diff_mean=round(float(diffs.mean()), 4),
        score_abs_diff_max=round(float(diffs.max()), 4),
        score_diff_mean=round(float(np.mean(score_diffs)), 4) if score_diffs else 0.0,
        unmatched_float_scores=[round(s, 3) for s in sorted(missed_scores, reverse=True)[:10]])


def measure_parity(model: nn.Module, result: ExportResult, images: Sequence[np.ndarray],
                   score_thr: float = 0.5, score_margin: float = 0.1, iou_thr: float = 0.9,
                   on_image: Optional[Callable] = None, extra_score_thrs: Sequence[float] = (),
                   log=print) -> dict:
    """Float model vs exported int8 program: detections on images (see
    :func:`detection_parity`).

    The int8 side is the integer reference (bit-exact with the C); both sides decode with the
    same algorithm (:func:`float_detections` equals mmdet's ``predict_by_feat``) down to
    ``score_thr - score_margin``, with room for 512 candidates and 100 detections, so the
    deployed top-K / candidate bounds do not enter the comparison.

    Args:
        model (nn.Module): The float detector (eval mode).
        result (ExportResult): What :func:`export_detector` returned for it.
        images (Sequence[np.ndarray]): uint8 HWC images of the model's size (ideally not the
            calibration images).
        score_thr (float): Detections counted from this score. Defaults to 0.5.
        score_margin (float): Score tolerance of the partner detection. Defaults to 0.1.
        iou_thr (float): IoU of a match. Defaults to 0.9.
        on_image (callable, optional): Called as ``on_image(index, image, tensors, dets)``
            with the reference tensors and the deployed program's detections of each image
            (e.g. to compare a build with them). Defaults to None.
        extra_score_thrs (Sequence[float]): Further score thresholds measured on the same
            detections (greedy NMS never lets a lower score suppress a higher one, so decoding
            down to the lowest threshold leaves the detections above each one unchanged);
            their statistics go to ``by_score_thr[str(thr)]``. Defaults to ().
        log (callable): Progress printer. Defaults to print.

    Returns:
        dict: :func:`detection_parity`'s statistics (at ``score_thr``), plus ``by_score_thr``
        when ``extra_score_thrs`` are given.
    """
    program = result.program
    h, w, _ = program.stream.image_shape
    low = max(min([score_thr, *extra_score_thrs]) - score_margin, 0.0)
    spec = replace(program.detect, score_thr=score_to_q15(low),
                   max_candidates=max(512, program.detect.max_candidates),
                   max_dets=max(100, program.detect.max_dets))
    order = [level for _, level in detect_order(program)]
    float_dets, int_dets = [], []
    for index, image in enumerate(images):
        heads = float_head_outputs(model, [image])[0]
        float_dets.append(float_detections(heads, program, result.geometry, w, h, low,
                                           program.detect.iou_thr / 32767, spec.max_dets))
        tensors, dets = run_program(program, image)
        if on_image is not None:
            on_image(index, image, tensors, dets)
        q = detect(spec, tensors, w, h, order)
        int_dets.append(np.concatenate([q[:, :4] / 16.0, q[:, 4:5] / 32767.0], 1))
        if (index + 1) % 10 == 0 or index + 1 == len(images):
            log(f'  parity: {index + 1}/{len(images)} images')
    stats = detection_parity(float_dets, int_dets, score_thr, score_margin, iou_thr)
    if extra_score_thrs:
        stats['by_score_thr'] = {
            str(thr): detection_parity(float_dets, int_dets, thr, score_margin, iou_thr)
            for thr in extra_score_thrs}
    return stats


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
           'float_detections', 'float_head_outputs', 'match_detections', 'detection_parity',
           'measure_parity', 'correct_biases', 'equalize_blocks',
           'box_iou']
