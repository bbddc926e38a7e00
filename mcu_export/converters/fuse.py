"""Plain ``nn.Conv2d`` followed by ``nn.BatchNorm2d`` and / or ``nn.ReLU`` / ``nn.ReLU6``
(torchvision style, no ConvModule): the traced nodes are fused into one convolution node, the
way the C runs them (BN folded, the activation a clamp). A BatchNorm or activation that does
not directly follow a convolution it alone reads is refused by path."""
from typing import Optional

import torch.nn as nn

from .base import Converter, register_converter


class FusedConv(nn.Module):
    """A Conv2d with the BatchNorm2d and activation modules that follow it in the graph (not
    called: the model's own modules run; ``output_module`` is the last of them, whose output
    the calibration observes)."""

    def __init__(self, conv: nn.Conv2d, norm: Optional[nn.Module] = None,
                 act: Optional[nn.Module] = None):
        super().__init__()
        self.conv, self.norm, self.act = conv, norm, act

    @property
    def output_module(self) -> nn.Module:
        return self.act or self.norm or self.conv


@register_converter(nn.BatchNorm2d, nn.ReLU, nn.ReLU6)
class FoldedIntoConvConverter(Converter):
    """BatchNorm2d / ReLU / ReLU6: folded into the convolution before them (see
    :func:`fuse_conv_bn_act`); alone they are refused."""

    kind = 'fold'

    def convert(self, node, ctx):
        raise ValueError(f'{node.where}: {type(node.module).__name__} not directly after a '
                         'convolution that alone reads it is not supported')


def fuse_conv_bn_act(graph) -> None:
    """Fuses ``conv -> [bn] -> [relu]`` node chains of ``graph`` in place."""
    consumers = {}
    for n in graph.nodes:
        for i in n.inputs:
            consumers[i] = consumers.get(i, 0) + 1
    for o, _ in graph.outputs:
        consumers[o] = consumers.get(o, 0) + 1
    by_index = {n.index: n for n in graph.nodes}
    dropped = {}
    for n in graph.nodes:
        if n.kind != 'fold':
            continue
        src = dropped.get(n.inputs[0], n.inputs[0]) if n.inputs else -1
        prod = by_index.get(src)
        ok = prod is not None and prod.kind == 'conv' and consumers.get(n.inputs[0]) == 1
        if ok:
            mod = prod.module
            fused = mod if isinstance(mod, FusedConv) else (
                FusedConv(mod) if type(mod) is nn.Conv2d else None)
            is_bn = isinstance(n.module, nn.BatchNorm2d)
            if fused is None or fused.act is not None or (is_bn and fused.norm is not None):
                ok = False
        if not ok:
            raise ValueError(f'{n.where}: {type(n.module).__name__} is supported only directly '
                             'after a Conv2d whose output it alone reads (folded into it)')
        if is_bn:
            fused.norm = n.module
        else:
            fused.act = n.module
        prod.module = fused
        prod.out_shapes = n.out_shapes
        dropped[n.index] = prod.index
    if not dropped:
        return

    def final(i):
        while i in dropped:
            i = dropped[i]
        return i

    graph.nodes = [n for n in graph.nodes if n.index not in dropped]
    for n in graph.nodes:
        n.inputs = [final(i) for i in n.inputs]
    graph.outputs = [(final(i), s) for i, s in graph.outputs]


__all__ = ['FusedConv', 'FoldedIntoConvConverter', 'fuse_conv_bn_act']
