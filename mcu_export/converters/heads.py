"""Converter of SSD / S3FD detection heads (one anchor per location, one softmax class).

Per level a Conv2d for scores and one for deltas, each optionally after ConvModules
(``S3FDHead.branch_convs``, Face-Quant's first head); S3FD max-out background levels are
decoded by the integer post-processing. The score and box branches' ConvModules are merged
into one convolution with their output channels side by side (the same input, so the same
function), and the last convs read their half of it through zero weights on the other half:
a branched head is a plain chain of convolutions and a head stage, streamed or whole-map, with
no new C kernel. The converter also builds the detection spec (integer decoding tables) and
the float anchor geometry the parity check decodes with.
"""
import copy
from typing import List

import numpy as np
import torch
import torch.nn as nn
from mmdet.models.dense_heads import SSDHead

from ..detect_tables import build_detect_level, score_to_q15
from ..ir import DetectSpec
from ..quantize import RangeObserver
from .base import Converter, Mapped, register_converter
from .layers import conv_module_parts, quantize_conv


def head_modules(seq: nn.Module) -> List[nn.Module]:
    return list(seq) if isinstance(seq, nn.Sequential) else [seq]


def check_head_branches(head: nn.Module, level: int) -> int:
    """Number of branch ConvModules of a level (the same geometry in both branches)."""
    loc = head_modules(head.reg_convs[level])
    conf = head_modules(head.cls_convs[level])
    for kind, mods in (('reg_convs', loc), ('cls_convs', conf)):
        where = f'bbox_head.{kind}[{level}]'
        if type(mods[-1]) is not nn.Conv2d:
            raise ValueError(f'{where}: the last layer must be a Conv2d, got '
                             f'{type(mods[-1]).__name__}')
        for j, m in enumerate(mods[:-1]):
            conv, _, _ = conv_module_parts(m, f'{where}[{j}]')
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
            kinds = [conv_module_parts(m, f'bbox_head level {level} conv {j}')[1:]
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
    loc = head_modules(head.reg_convs[level])
    conf = head_modules(head.cls_convs[level])
    merged = []
    split = None  # input channels of the box half of the current merged map
    with torch.no_grad():
        for j, (ml, mc) in enumerate(zip(loc[:-1], conf[:-1])):
            (cl, bl, _), (cc, bc, _) = (conv_module_parts(m, f'bbox_head level {level}')
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


@register_converter(SSDHead)
class SSDHeadConverter(Converter):
    """SSD / S3FD head, traced through ``forward_layers`` (raw conv outputs, before S3FD's
    max-out) where the head has it. Every level becomes its merged branch convs and a loc /
    conf conv pair (``role='head'``); ``ctx.extras`` gets the ``DetectSpec`` and the float
    anchor geometry of each level."""

    kind = 'ssd_head'
    methods = ('forward_layers', 'forward')

    def check(self, head, where):
        if head.num_classes != 1:
            raise ValueError(f'{where}.num_classes={head.num_classes}: only one class is '
                             'supported')
        if getattr(head, 'use_sigmoid_cls', False):
            raise ValueError(f'{where}: sigmoid classifiers are not supported (softmax)')
        if any(n != 1 for n in head.num_base_priors):
            raise ValueError(f'{where}: {head.num_base_priors} anchors per location; only one '
                             'is supported')
        for level in range(len(head.cls_convs)):
            check_head_branches(head, level)

    def observe(self, node):
        head, out = node.module, {}
        for level in range(len(head.cls_convs)):
            out[f'head{level}_conf'] = head.cls_convs[level]
            out[f'head{level}_loc'] = head.reg_convs[level]
            for kind, seq in (('loc', head.reg_convs[level]), ('conf', head.cls_convs[level])):
                for j, m in enumerate(head_modules(seq)[:-1]):
                    out[f'branch{level}_{kind}.{j}'] = m
        return out

    def finish_calibration(self, node, ranges, float_maps):
        # merged branch convs (merge_head_branches): the range and the float maps of both
        # halves side by side
        head = node.module
        for level in range(len(head.cls_convs)):
            for j in range(check_head_branches(head, level)):
                halves = [f'branch{level}_{kind}.{j}' for kind in ('loc', 'conf')]
                merged = ranges[f'branch{level}.{j}'] = RangeObserver(f'branch{level}.{j}')
                merged.lo = min(ranges[key].lo for key in halves)
                merged.hi = max(ranges[key].hi for key in halves)
                for maps in float_maps:
                    maps[f'branch{level}.{j}'] = np.concatenate([maps[k] for k in halves],
                                                                axis=2)

    def convert(self, node, ctx):
        head, q = node.module, ctx.quant
        out: List[Mapped] = []
        sources = []
        for level, src in enumerate(ctx.input_names(node)):
            src_shape = ctx.shapes[src]
            merged, loc, conf = merge_head_branches(head, level)
            for j, m in enumerate(merged):
                key = f'branch{level}.{j}'
                layer = quantize_conv(m, f'bbox_head level {level} branch conv {j}', key,
                                      src_shape, q[src], q[key])
                out.append(Mapped(layer, [src], key, role='layer', level=level))
                src, src_shape = key, layer.out_shape
            for kind, conv in (('loc', loc), ('conf', conf)):
                key = f'head{level}_{kind}'
                where = f'bbox_head.{"reg" if kind == "loc" else "cls"}_convs[{level}]'
                layer = quantize_conv(conv, where, key, src_shape, q[src], q[key])
                out.append(Mapped(layer, [src], key, role='head', level=level))
                if kind == 'loc':
                    sources.append(layer.out_shape)
        spec, geometry = detect_spec(head, sources, q, ctx.options)
        ctx.extras['detect'], ctx.extras['geometry'] = spec, geometry
        return out


def detect_spec(head: nn.Module, level_shapes, quant, options: dict):
    """Integer decoding tables of every level and the float geometry (anchors, coder)."""
    levels, geometry = [], []
    coder = head.bbox_coder
    stds, means = list(map(float, coder.stds)), list(map(float, coder.means))
    clip = float(getattr(coder, 'wh_ratio_clip', 16 / 1000))
    for level, src_shape in enumerate(level_shapes):
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
    spec = DetectSpec(levels, score_to_q15(options.get('score_thr', 0.3)),
                      score_to_q15(options.get('iou_thr', 0.45)),
                      options.get('max_candidates', 64), options.get('max_dets', 16))
    return spec, geometry


__all__ = ['head_modules', 'check_head_branches', 'merge_head_branches', 'SSDHeadConverter',
           'detect_spec']
