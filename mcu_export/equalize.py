"""Channel-range equalisation inside ReLU inverted residual blocks (float function unchanged).

int8 activations are per tensor, so a channel whose range is a tenth of its tensor's keeps
three bits; the expanded and depthwise maps of MobileNetV2 blocks are the worst. ReLU commutes
with positive scaling (blocks with other activations, e.g. ReLU6, are left alone), so expanded
channel ``c`` is scaled by ``r_max / r_c`` (its calibrated max) and the depthwise filter ``c``
by the inverse: the float function is unchanged, and with per-channel weights the weight
precision too. The depthwise outputs are scaled by ``sqrt(r_max / r_c)`` against the
projection's input columns (which share per-output-channel weight scales, hence only half way).
"""
from typing import Callable, Dict, List

import torch
import torch.nn as nn

from .converters.graph import ModelGraph
from .converters.layers import block_parts, conv_module_parts

MAX_EQUALIZE_SCALE = 64.0  # largest channel scale


def _scale_output_channels(module: nn.Module, scale: torch.Tensor) -> None:
    """Multiplies a ConvModule's (BN-folded) output channels by ``scale`` (> 0)."""
    conv, bn, _ = conv_module_parts(module, 'equalisation')
    if bn is not None:
        bn.weight.data *= scale
        bn.bias.data *= scale
    else:
        conv.weight.data *= scale.view(-1, 1, 1, 1)
        if conv.bias is not None:
            conv.bias.data *= scale


def _relu_after(module: nn.Module) -> bool:  # ReLU6 and others do not commute with scaling
    return (getattr(module, 'with_activation', False)
            and type(getattr(module, 'activate', None)) is nn.ReLU
            and (not getattr(module, 'with_norm', False)
                 or (isinstance(module.norm, nn.BatchNorm2d) and module.norm.affine)))


def equalizable_blocks(graph: ModelGraph) -> List[tuple]:
    """``(expand, depthwise, project)`` of every inverted residual node that can be equalised."""
    blocks = []
    for node in graph.nodes:
        if node.kind != 'mbconv':
            continue
        expand, dw, project, _, _ = block_parts(node.module, node.where)
        if (expand is not None and _relu_after(expand) and _relu_after(dw)
                and type(getattr(dw, 'conv', None)) is nn.Conv2d
                and type(getattr(project, 'conv', None)) is nn.Conv2d):
            blocks.append((expand, dw, project))
    return blocks


def equalize_blocks(graph: ModelGraph, forward: Callable[[torch.Tensor], object],
                    inputs: torch.Tensor) -> int:
    """Equalises the blocks of ``graph`` in place (run it on a copy of the model).

    Args:
        graph (ModelGraph): Traced graph of the model to modify.
        forward (callable): Its layers-only computation.
        inputs (torch.Tensor): Normalised calibration inputs ``(n, c, h, w)``.

    Returns:
        int: Number of blocks equalised.
    """
    blocks = equalizable_blocks(graph)
    maxima: Dict[int, Dict[str, torch.Tensor]] = {}
    handles = []
    for i, (expand, dw, _) in enumerate(blocks):
        maxima[i] = {}
        for key, mod in (('expand', expand), ('dw', dw)):
            def hook(_mod, _inp, out, i=i, key=key):
                cur = out.detach().amax(dim=(0, 2, 3))
                prev = maxima[i].get(key)
                maxima[i][key] = cur if prev is None else torch.maximum(prev, cur)
            handles.append(mod.register_forward_hook(hook))
    try:
        with torch.no_grad():
            for n in range(len(inputs)):
                forward(inputs[n:n + 1])
    finally:
        for h in handles:
            h.remove()
    with torch.no_grad():
        for i, (expand, dw, project) in enumerate(blocks):
            # capped: a nearly dead channel is not worth a huge multiplier downstream
            r = maxima[i]['expand'].double()
            s = (r.max() / r.clamp_min(1e-12)).clamp(1.0, MAX_EQUALIZE_SCALE)
            _scale_output_channels(expand, s.float())
            dw.conv.weight.data /= s.float().view(-1, 1, 1, 1)
            r = maxima[i]['dw'].double()
            t = (r.max() / r.clamp_min(1e-12)).sqrt().clamp(1.0, MAX_EQUALIZE_SCALE**0.5)
            _scale_output_channels(dw, t.float())
            project.conv.weight.data /= t.float().view(1, -1, 1, 1)
    return len(blocks)


__all__ = ['MAX_EQUALIZE_SCALE', 'equalizable_blocks', 'equalize_blocks']
