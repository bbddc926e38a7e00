"""Converters of the feature layers: convolutions, inverted residual blocks, RNNPool, the
replicate pad after it, L2Norm (detectors and classifiers alike)."""
from typing import Optional

import numpy as np
import torch.nn as nn
from mmcv.cnn import ConvModule

from mmdet_rnnpool.ops import RNNPool

from ..ir import AddLayer, ConvLayer, FastGRNNCell, L2NormLayer, MBConvLayer, RNNPoolLayer
from ..quantize import (ActQuant, activation_tables, add_params, fold_batchnorm, quantize_bias,
                        quantize_multipliers, quantize_weights_per_channel, sigmoid_q14)
from .base import Converter, Mapped, register_converter

Q14 = 1 << 14


def act_kind(module: nn.Module, where: str) -> Optional[str]:
    """'relu', 'relu6' or None of a ConvModule's fused activation."""
    act = getattr(module, 'activate', None) if getattr(module, 'with_activation', False) else None
    if act is None:
        return None
    if type(act) is nn.ReLU:
        return 'relu'
    if type(act) is nn.ReLU6:
        return 'relu6'
    raise ValueError(f'{where}: activation {type(act).__name__} is not supported '
                     '(ReLU, ReLU6 or none)')


def conv_module_parts(module: nn.Module, where: str):
    """(conv, bn or None, act) of an mmcv ConvModule, a plain Conv2d or a fused
    Conv2d + BatchNorm2d + ReLU chain (:class:`~.fuse.FusedConv`)."""
    from .fuse import FusedConv
    if isinstance(module, nn.Conv2d):
        return module, None, None
    if isinstance(module, FusedConv):
        bn = module.norm
        if bn is not None and (type(bn) is not nn.BatchNorm2d or not bn.track_running_stats):
            raise ValueError(f'{where}: {type(bn).__name__} is not supported (BatchNorm2d)')
        act = {None: None, nn.ReLU: 'relu', nn.ReLU6: 'relu6'}[type(module.act)
                                                              if module.act else None]
        return module.conv, bn, act
    if not isinstance(module, ConvModule):
        raise ValueError(f'{where}: {type(module).__name__} is not supported here '
                         '(expected ConvModule or Conv2d)')
    order = getattr(module, 'order', ('conv', 'norm', 'act'))
    if tuple(order) != ('conv', 'norm', 'act'):
        raise ValueError(f'{where}: ConvModule order {order} is not supported')
    bn = module.norm if getattr(module, 'with_norm', False) else None
    if bn is not None and not isinstance(bn, nn.BatchNorm2d):
        raise ValueError(f'{where}: norm {type(bn).__name__} is not supported (BatchNorm2d)')
    return module.conv, bn, act_kind(module, where)


def check_conv(module: nn.Module, where: str) -> None:
    """Refuses what :func:`quantize_conv` cannot map (one line naming ``where``)."""
    conv, _, _ = conv_module_parts(module, where)
    if type(conv) is not nn.Conv2d:
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
    check_conv(module, where)
    conv, bn, act = conv_module_parts(module, where)
    cin, cout = conv.in_channels, conv.out_channels
    depthwise = conv.groups == cin and conv.groups == cout and conv.groups > 1
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


def check_rnnpool(module: nn.Module, where: str) -> None:
    if getattr(module, 'cell', 'fastgrnn') != 'fastgrnn':
        raise ValueError(f'{where}: cell {module.cell!r} is not supported (fastgrnn)')
    if tuple(module.padding) != (0, 0) or getattr(module, 'ceil_mode', False):
        raise ValueError(f'{where}: padding {tuple(module.padding)} / ceil_mode are not '
                         'supported (use padding=0)')
    nl = getattr(module, 'nonlinearity', 'standard')
    if nl not in ('standard', 'quant'):
        raise ValueError(f'{where}: nonlinearity {nl!r} is not supported')


def quantize_rnnpool(module: nn.Module, where: str, in_shape, in_q: ActQuant,
                     out_q: ActQuant, name: str = 'rnnpool') -> RNNPoolLayer:
    """Quantises an RNNPool module (FastGRNN cells, Q14 state)."""
    check_rnnpool(module, where)
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
    return RNNPoolLayer(name=name, in_shape=tuple(in_shape),
                        out_shape=(oh, ow, 4 * rnn2.hidden_size), patch=(kh, kw), stride=(sh, sw),
                        input_offset=-in_q.zero_point, rnn1=rnn1, rnn2=rnn2,
                        output_multiplier=int(om[0]), output_rshift=int(osh[0]),
                        output_offset=out_q.zero_point)


@register_converter(ConvModule, nn.Conv2d)
class ConvConverter(Converter):
    """mmcv ConvModule (Conv2d + BatchNorm2d + ReLU / ReLU6, in that order) or a plain Conv2d:
    regular or depthwise, any kernel / stride / zero padding. The first convolution reading
    the camera gets the mean / std normalisation and the channel order folded in."""

    kind = 'conv'

    def check(self, module, where):
        check_conv(module, where)

    def observe(self, node):  # a fused chain: the output of its last module
        return {node.name: getattr(node.module, 'output_module', node.module)}

    def convert(self, node, ctx):
        src = ctx.input_names(node)[0]
        transform = ctx.take_input_transform() if node.inputs == [-1] else None
        layer = quantize_conv(node.module, node.where, node.name, ctx.shapes[src],
                              ctx.quant[src], ctx.quant[node.name], transform)
        return [Mapped(layer, [src], node.name)]


def block_parts(m: nn.Module, where: str):
    """``(expand or None, depthwise, project, residual, sub-paths)`` of an inverted residual
    block: mmdet's (``expand_conv`` / ``depthwise_conv`` / ``linear_conv``) or mmpretrain's
    (``conv`` = Sequential of 2 or 3 ConvModules, ``use_res_connect``)."""
    if hasattr(m, 'depthwise_conv'):  # mmdet.models.layers.InvertedResidual
        if getattr(m, 'with_se', False):
            raise ValueError(f'{where}: squeeze-excitation is not supported')
        expand = m.expand_conv if m.with_expand_conv else None
        return (expand, m.depthwise_conv, m.linear_conv, bool(m.with_res_shortcut),
                ('expand_conv', 'depthwise_conv', 'linear_conv'))
    convs = list(m.conv)
    if len(convs) not in (2, 3):
        raise ValueError(f'{where}: {len(convs)} layers in the block (2 or 3 expected)')
    expand = convs[0] if len(convs) == 3 else None
    off = len(convs) - 2
    names = ('conv[0]' if expand is not None else None, f'conv[{off}]', f'conv[{off + 1}]')
    return expand, convs[off], convs[off + 1], bool(m.use_res_connect), names


def _block_types():
    from mmdet.models.layers import InvertedResidual as MMDetIR
    types = [MMDetIR]
    try:
        from mmpretrain.models.backbones.mobilenet_v2 import InvertedResidual as MMPreIR
        types.append(MMPreIR)
    except ImportError:  # mmpretrain is optional for the detectors
        pass
    return types


@register_converter(*_block_types())
class InvertedResidualConverter(Converter):
    """Inverted residual block (optional 1x1 expand -> depthwise -> 1x1 project [+ input]):
    one ``MBConvLayer``, run row by row (only ``kernel_h`` expanded rows exist)."""

    kind = 'mbconv'

    def check(self, module, where):
        expand, dw, project, _, names = block_parts(module, where)
        for sub, n in zip((expand, dw, project), names):
            if sub is not None:
                check_conv(sub, f'{where}.{n}')
        conv, _, _ = conv_module_parts(dw, f'{where}.{names[1]}')
        if not (conv.groups == conv.in_channels == conv.out_channels and conv.groups > 1):
            raise ValueError(f'{where}.{names[1]} is not depthwise')

    def observe(self, node):
        expand, dw, project, _, _ = block_parts(node.module, node.where)
        out = {node.name: node.module, f'{node.name}.dw': dw, f'{node.name}.project': project}
        if expand is not None:
            out[f'{node.name}.expand'] = expand
        return out

    def convert(self, node, ctx):
        src = ctx.input_names(node)[0]
        key, where, q = node.name, node.where, ctx.quant
        expand_m, dw_m, project_m, res, names = block_parts(node.module, where)
        shape, in_q = ctx.shapes[src], q[src]
        expand = None
        cur_shape, cur_q = shape, in_q
        if expand_m is not None:
            expand = quantize_conv(expand_m, f'{where}.{names[0]}', f'{key}.expand', cur_shape,
                                   cur_q, q[f'{key}.expand'])
            cur_shape, cur_q = expand.out_shape, q[f'{key}.expand']
        dw = quantize_conv(dw_m, f'{where}.{names[1]}', f'{key}.dw', cur_shape, cur_q,
                           q[f'{key}.dw'])
        dq, pq = q[f'{key}.dw'], q[f'{key}.project']
        project = quantize_conv(project_m, f'{where}.{names[2]}', f'{key}.project',
                                dw.out_shape, dq, pq)
        residual = None
        if res:
            out_q = q[key]
            residual = AddLayer(f'{key}.add', tuple(project.out_shape), -in_q.zero_point,
                                -pq.zero_point, output_offset=out_q.zero_point,
                                **add_params(in_q.scale, pq.scale, out_q.scale))
        return [Mapped(MBConvLayer(key, expand, dw, project, residual), [src], key)]


@register_converter(RNNPool)
class RNNPoolConverter(Converter):
    """RNNPool with FastGRNN cells, no padding, no ceil mode (``quant`` nonlinearities exact,
    ``standard`` ones by sigmoid / tanh tables)."""

    kind = 'rnnpool'

    def check(self, module, where):
        check_rnnpool(module, where)

    def convert(self, node, ctx):
        src = ctx.input_names(node)[0]
        layer = quantize_rnnpool(node.module, node.where, ctx.shapes[src], ctx.quant[src],
                                 ctx.quant[node.name], name=node.name)
        return [Mapped(layer, [src], node.name)]


@register_converter(nn.ReplicationPad2d)
class ReplicatePadConverter(Converter):
    """Replicate padding at the bottom / right only (the pad after RNNPool, e.g. 27 -> 28):
    done by the producing stream stage, no op of its own."""

    kind = 'pad'

    def check(self, module, where):
        left, right, top, bottom = tuple(module.padding)
        if left or top:
            raise ValueError(f'{where}: only bottom / right replicate padding is supported '
                             f'(ReplicationPad2d((0, r, 0, b))), got {tuple(module.padding)}')

    def observe(self, node):
        return {}

    def convert(self, node, ctx):
        src = ctx.input_names(node)[0]
        (h, w, _), (oh, ow, _) = node.in_shapes[0], node.out_shapes[0]
        ctx.quant[node.name] = ctx.quant[src]
        return [Mapped((oh - h, ow - w), [src], node.name, role='pad')]


def _l2norm_type():
    from mmdet.models.necks.ssd_neck import L2Norm
    return L2Norm


@register_converter(_l2norm_type())
class L2NormConverter(Converter):
    """mmdet's L2Norm (SSD / S3FD sources): integer, see ``rp_l2norm.c``."""

    kind = 'l2norm'

    def convert(self, node, ctx):
        src = ctx.input_names(node)[0]
        out_q = ctx.quant[node.name]
        weight = node.module.weight.detach().double().numpy()
        mult, shift = quantize_multipliers(weight / (out_q.scale * 2**22))
        layer = L2NormLayer(node.name, tuple(ctx.shapes[src]), -ctx.quant[src].zero_point,
                            out_q.zero_point, mult, shift)
        return [Mapped(layer, [src], node.name)]


__all__ = ['act_kind', 'conv_module_parts', 'check_conv', 'quantize_conv', 'quantize_rnnpool',
           'block_parts', 'ConvConverter', 'InvertedResidualConverter', 'RNNPoolConverter',
           'ReplicatePadConverter', 'L2NormConverter']
