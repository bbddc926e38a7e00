"""Converters of the classifier tail: global average pooling neck, RNNPool over the whole last
map (the paper's last-layer RNNPool), the linear head, and the classification output.

The ops are looked up by kind in the op registry at call time (``get_op('gap')`` ...), so this
file needs no import of their classes.
"""
import dataclasses

import numpy as np
import torch.nn as nn

from ..quantize import quantize_bias, quantize_multipliers, quantize_weights_per_channel
from .base import Converter, Mapped, register_converter
from .layers import check_rnnpool, quantize_rnnpool


def get_op(kind: str):
    from ..ops.base import get_op as registry_get_op
    return registry_get_op(kind)


def _gap_type():
    from mmpretrain.models.necks import GlobalAveragePooling
    return GlobalAveragePooling


def _rnnpool_neck_type():
    from mmdet_rnnpool.cls.models.necks.rnnpool_neck import RNNPoolNeck
    return RNNPoolNeck


def _registered(factory):
    try:
        return [factory()]
    except ImportError:  # mmpretrain is optional for the detectors
        return []


@register_converter(*_registered(_gap_type))
class GlobalAveragePoolingConverter(Converter):
    """mmpretrain ``GlobalAveragePooling`` (2-d): the ``gap`` op, a streamable sink."""

    kind = 'gap'

    def check(self, module, where):
        if not isinstance(getattr(module, 'gap', None), nn.AdaptiveAvgPool2d):
            raise ValueError(f'{where}: only 2-d global average pooling is supported')

    def convert(self, node, ctx):
        src = ctx.input_names(node)[0]
        in_q, out_q = ctx.quant[src], ctx.quant[node.name]
        h, w, c = ctx.shapes[src]
        mult, shift = quantize_multipliers([in_q.scale / (out_q.scale * h * w)])
        op = get_op('gap')(name=node.name, in_shape=(h, w, c), output_multiplier=int(mult[0]),
                           output_rshift=int(shift[0]), input_offset=-in_q.zero_point,
                           output_offset=out_q.zero_point)
        return [Mapped(op, [src], node.name)]


@register_converter(*_registered(_rnnpool_neck_type))
class RNNPoolNeckConverter(Converter):
    """``RNNPoolNeck`` (one RNNPool whose patch is the whole last map): the ``rnnpool_last``
    op, computed row by row as the map's rows arrive (a streamable sink)."""

    kind = 'rnnpool_last'

    def check(self, module, where):
        if len(module.pools) != 1:
            raise ValueError(f'{where}: {len(module.pools)} pooled inputs (one is supported)')
        check_rnnpool(module.pools[0], f'{where}.pools[0]')

    def convert(self, node, ctx):
        src = ctx.input_names(node)[0]
        h, w, c = ctx.shapes[src]
        pool = node.module.pools[0]
        # the same fixed-point cells as a patch RNNPool whose one patch is the whole map
        saved = pool.kernel_size, pool.stride
        pool.kernel_size = pool.stride = (h, w)
        try:
            layer = quantize_rnnpool(pool, f'{node.where}.pools[0]', (h, w, c), ctx.quant[src],
                                     ctx.quant[node.name], name=node.name)
        finally:
            pool.kernel_size, pool.stride = saved
        fields = {f.name: getattr(layer, f.name) for f in dataclasses.fields(layer)
                  if f.name not in ('patch', 'stride', 'out_shape', 'row_cache')}
        op = get_op('rnnpool_last')(**fields)
        return [Mapped(op, [src], node.name)]


@register_converter(nn.Linear)
class LinearConverter(Converter):
    """``nn.Linear`` on the ``(1, 1, n)`` vector of a global pooling: the ``linear`` op (int8
    weights per output row, int32 bias, per-row requantisation)."""

    kind = 'linear'

    def convert(self, node, ctx):
        src = ctx.input_names(node)[0]
        in_q, out_q = ctx.quant[src], ctx.quant[node.name]
        m = node.module
        w = m.weight.detach().double().numpy()
        b = np.zeros(w.shape[0]) if m.bias is None else m.bias.detach().double().numpy()
        wq, ws = quantize_weights_per_channel(w)
        mult, shift = quantize_multipliers(in_q.scale * ws / out_q.scale)
        op = get_op('linear')(name=node.name, weights=np.ascontiguousarray(wq),
                              bias=quantize_bias(b, in_q.scale, ws), multiplier=mult,
                              rshift=shift, input_offset=-in_q.zero_point,
                              output_offset=out_q.zero_point)
        return [Mapped(op, [src], node.name)]


def classify_output(src: str, num_classes: int, logit_q, ctx) -> Mapped:
    """The program's ``classify`` output op on the logits (Q15 softmax scores + argmax)."""
    from ..ops.classify import exp_table_q15
    op = get_op('classify')(name='classify', logits=src, num_classes=int(num_classes),
                            exp_q15=exp_table_q15(logit_q.scale),
                            class_names=list(ctx.options.get('class_names') or []))
    return Mapped(op, [src], 'classify', role='output')


__all__ = ['GlobalAveragePoolingConverter', 'RNNPoolNeckConverter', 'LinearConverter',
           'classify_output']
