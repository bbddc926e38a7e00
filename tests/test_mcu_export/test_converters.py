"""The converter registry and the traced graph (mcu_export.converters): how a module type is
added, what is refused (by type and path), and the mapping plans of the Visual Wake Words
classifiers (MobileNetV2-0.35x-RNNPool, with and without the last-layer RNNPool)."""
from pathlib import Path

import pytest
import torch
import torch.nn as nn

pytest.importorskip('mmdet', reason='mmdet / mmcv not importable')

from mcu_export.converters import (CONVERTERS, Converter, Mapped, find_converter,  # noqa: E402
                                   register_converter, trace_graph)
from mcu_export.converters.program import schedule  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


class _Scale(nn.Module):
    """A test-only module type (not registered by the library)."""

    def forward(self, x):
        return x * 2


class _Net(nn.Module):
    def __init__(self, middle: nn.Module):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), middle,
                                      nn.Conv2d(4, 4, 1))

    def forward(self, x):
        return self.backbone(x)


def test_a_new_module_type_is_one_registered_converter():
    assert find_converter(_Scale()) is None
    net = _Net(_Scale())
    with pytest.raises(ValueError, match=r'backbone\[1\]: _Scale is not supported'):
        trace_graph(net, net.forward, torch.zeros(1, 3, 8, 8))

    @register_converter(_Scale)
    class ScaleConverter(Converter):
        kind = 'scale_test'

        def convert(self, node, ctx):
            return [Mapped(('scale', 2), ctx.input_names(node), node.name)]

    try:
        net = _Net(_Scale())
        graph = trace_graph(net, net.forward, torch.zeros(1, 3, 8, 6))
        assert graph.plan() == [('conv', '0', ['input']), ('scale_test', '1', ['0']),
                                ('conv', '2', ['1'])]
        assert graph.nodes[1].in_shapes == [(8, 6, 4)] and graph.outputs == [(2, 0)]
        # one converter per type
        with pytest.raises(ValueError, match='already registered'):
            register_converter(_Scale)(ScaleConverter)
    finally:
        del CONVERTERS[_Scale]


def test_unsupported_module_and_tensor_ops_are_refused_by_path():
    net = _Net(nn.GELU())
    with pytest.raises(ValueError, match=r'^backbone\[1\]: GELU is not supported .*part of '
                       r'backbone Sequential'):
        trace_graph(net, net.forward, torch.zeros(1, 3, 8, 8))

    class Arith(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(3, 4, 1), nn.Conv2d(4, 4, 1)

        def forward(self, x):
            return self.b(self.a(x) + 1)  # arithmetic outside every module

    net = nn.Module()
    net.body = Arith()
    with pytest.raises(ValueError, match=r'body.b: its input is computed by a tensor operation '
                       r'in the forward of body \(Arith\)'):
        trace_graph(net, net.body, torch.zeros(1, 3, 4, 4))

    class InPlace(Arith):  # a residual block's ``out += identity`` keeps the tensor object
        def forward(self, x):
            y = self.a(x)
            y += 1
            return self.b(y)

    net.body = InPlace()
    with pytest.raises(ValueError, match=r'body.b: its input is modified in place by a tensor '
                       r'operation in the forward of body \(InPlace\)'):
        trace_graph(net, net.body, torch.zeros(1, 3, 4, 4))


def test_a_module_called_twice_is_refused():
    net = nn.Module()
    net.conv = nn.Conv2d(3, 3, 1)
    with pytest.raises(ValueError, match=r'^conv: called more than once'):
        trace_graph(net, lambda x: net.conv(net.conv(x)), torch.zeros(1, 3, 4, 4))


def test_a_converter_check_refuses_before_the_forward():
    net = _Net(nn.Conv2d(4, 4, 3, padding=1, dilation=2))
    with pytest.raises(ValueError, match=r'backbone\[1\]: dilation \(2, 2\)'):
        trace_graph(net, net.forward, torch.zeros(1, 3, 8, 8))


def test_schedule_decodes_lower_levels_first():
    def m(name, inputs, role='layer', level=-1):
        return Mapped(None, inputs, name, role, level)

    # trace order: the backbone runs both stages, then the sources and the heads
    items = [m('s0', ['input']), m('s1', ['s0']), m('src0', ['s0']),
             m('b0', ['src0']), m('h0_loc', ['b0'], 'head', 0), m('h0_conf', ['b0'], 'head', 0),
             m('h1_loc', ['s1'], 'head', 1), m('h1_conf', ['s1'], 'head', 1)]
    assert [i.output for i in schedule(items)] == [
        's0', 'src0', 'b0', 'h0_loc', 'h0_conf', 's1', 'h1_loc', 'h1_conf']


def _vww_model(config):
    pytest.importorskip('mmpretrain', reason='mmpretrain not importable')
    from mmpretrain.registry import MODELS
    from mmpretrain.utils import register_all_modules
    import mmdet_rnnpool.cls  # noqa: F401
    from mmdet_rnnpool.utils.config_utils import load_config
    register_all_modules()
    return MODELS.build(load_config(str(ROOT / config)).model).eval()


@pytest.mark.parametrize('config,pool', [
    ('configs/rnnpool_cls/mobilenet-v2-0.35x-rnnpool_8xb32-150e_vww-224px.py', 'gap'),
    ('configs/rnnpool_cls/mobilenet-v2-0.35x-rnnpool-lastrnnpool_8xb32-150e_vww-224px.py',
     'rnnpool_last'),
])
def test_vww_classifier_mapping_plan(config, pool):
    """The paper's VWW model traced at 96 x 96: 3x3/2 conv, RNNPool (patch 6, stride 4) + the
    replicate pad to a whole stride, the 0.35x bottlenecks, the 1x1 conv to 320, then global
    average pooling (or RNNPool over the whole last map) and the linear layer."""
    from mcu_export.pipeline import map_model, model_task
    model = _vww_model(config)
    assert model_task(model) == 'classifier'
    graph = map_model(model, (96, 96, 3))
    kinds = graph.kinds()
    assert kinds == ['conv', 'rnnpool', 'pad'] + ['mbconv'] * 11 + ['conv', pool, 'linear']
    plan = graph.plan()
    assert plan[0] == ('conv', 'conv1', ['input'])
    assert plan[2] == ('pad', 'downsample.pad', ['downsample.layer'])
    assert plan[3][2] == ['downsample.pad']
    # every node reads the one before it (a chain), the linear layer is the only output
    assert all(p[2] == [plan[i - 1][1]] for i, p in enumerate(plan) if i)
    assert graph.outputs == [(len(plan) - 1, 0)]
    shapes = [n.out_shapes[0] for n in graph.nodes]
    assert shapes[:3] == [(48, 48, 8), (11, 11, 32), (12, 12, 32)]  # 27 -> 28 at 224 px
    assert shapes[-3:] == [(3, 3, 320), (1, 1, 320), (1, 1, 2)]
    # the blocks are mmpretrain's InvertedResidual: the residual ones are the stride-1 ones
    # with equal widths
    from mcu_export.converters.layers import block_parts
    residual = [block_parts(n.module, n.where)[3] for n in graph.nodes if n.kind == 'mbconv']
    assert residual == [False, True, True, True, False, True, True, False, True, True, False]


def test_a_model_whose_first_layer_is_not_a_conv_is_refused():
    """Face-A / B / C pool the image itself with RNNPool: the normalisation has no
    convolution to fold into, so the export refuses them by path (as it always has)."""
    from mmengine.config import Config
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    import mmdet_rnnpool  # noqa: F401
    from mcu_export.pipeline import map_model
    register_all_modules()
    cfg = Config.fromfile(str(ROOT / 'configs/rnnpool_face/rnnpool-face-a_1xb32-300e_widerface.py'))
    model = MODELS.build(cfg.model).eval()
    with pytest.raises(ValueError, match=r'^backbone.rnnpool: RNNPool reads the image; the first '
                       'layer must be a convolution'):
        map_model(model, (32, 40, 3))


def test_plain_conv_bn_relu_chains_fold_into_one_conv():
    """torchvision-style Conv2d -> BatchNorm2d -> ReLU: one conv node (BN folded, ReLU the
    clamp), observed at the ReLU's output; a BatchNorm not after a conv is refused."""
    from mcu_export.converters.layers import conv_module_parts, quantize_conv
    from mcu_export.quantize import ActQuant

    net = nn.Module()
    net.backbone = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4),
                                 nn.ReLU(inplace=True), nn.Conv2d(4, 4, 1), nn.ReLU6())
    net.backbone.eval()
    graph = trace_graph(net, net.backbone, torch.zeros(1, 3, 8, 8))
    assert graph.plan() == [('conv', '0', ['input']), ('conv', '3', ['0'])]
    assert graph.outputs == [(3, 0)]
    first, second = graph.nodes
    conv, bn, act = conv_module_parts(first.module, first.where)
    assert conv is net.backbone[0] and bn is net.backbone[1] and act == 'relu'
    assert conv_module_parts(second.module, second.where)[1:] == (None, 'relu6')
    assert first.converter.observe(first) == {'0': net.backbone[2]}
    layer = quantize_conv(first.module, first.where, '0', (8, 8, 3), ActQuant(0.02, 0),
                          ActQuant(0.05, -128))
    assert layer.act_min == -128  # ReLU: the clamp at the output zero point

    bad = nn.Module()
    bad.backbone = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU(), nn.BatchNorm2d(4))
    bad.backbone.eval()
    with pytest.raises(ValueError, match=r'^backbone\[2\]: BatchNorm2d is supported only '
                       'directly after a Conv2d'):
        trace_graph(bad, bad.backbone, torch.zeros(1, 3, 4, 4))
