import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdet_rnnpool.ops import FastGRNNCell, GRUCell, RNNPool, rnn_pool2d

CELLS = ['fastgrnn', 'gru', 'lstm']
NONLINEARITIES = ['standard', 'quant']
# (input h, w), kernel_size, stride, padding, ceil_mode
GEOMETRIES = [
    ((9, 11), 3, 2, 1, False),  # square patch, overlapping, padded
    ((8, 10), (3, 4), (2, 3), (1, 0), False),  # non-square everything
    ((7, 10), (4, 2), (3, 1), (2, 1), True),  # tall patch, ceil mode windows past the padding
    ((8, 8), 4, 4, 0, False),  # non-overlapping
]
from plain_cell_reference import plain_cell_step


def _randomised_pool(cell: str, nonlinearity: str, **kwargs) -> RNNPool:
    torch.manual_seed(0)
    # learned zeta / nu (not the fixed default), so that every term of the update matters
    cell_cfg = dict(learn_zeta_nu=True) if cell == 'fastgrnn' else None
    pool = RNNPool(2, (3, 2), cell=cell, nonlinearity=nonlinearity, cell_cfg=cell_cfg,
                   **kwargs).double()
    with torch.no_grad():
        for param in pool.parameters():  # non-zero biases / zeta / nu: every term matters
            param.copy_(torch.randn_like(param))
    return pool


def _plain_rnn(cell, sequence):
    """Zero initial state, keep the last hidden state."""
    state = tuple(
        torch.zeros(cell.hidden_size, dtype=torch.float64)
        for _ in range(cell.num_state_tensors))
    for x in sequence:
        state = plain_cell_step(cell, x, state)
    return state[0]


def _reference_rnnpool(pool: RNNPool, x: torch.Tensor) -> torch.Tensor:
    """The paper's Algorithm 1, patch by patch, on the zero-padded input."""
    (kh, kw), (sh, sw), (ph, pw) = pool.kernel_size, pool.stride, pool.padding
    # nn.MaxPool2d decides how many windows there are.
    out_h, out_w = F.max_pool2d(x, (kh, kw), (sh, sw), (ph, pw), ceil_mode=pool.ceil_mode).shape[2:]
    n, _, in_h, in_w = x.shape
    pad_bottom = max(ph, (out_h - 1) * sh + kh - in_h - ph)
    pad_right = max(pw, (out_w - 1) * sw + kw - in_w - pw)
    padded = F.pad(x, (pw, pad_right, ph, pad_bottom))
    out = torch.zeros(n, pool.out_channels, out_h, out_w, dtype=x.dtype)
    for b in range(n):
        for i in range(out_h):
            for j in range(out_w):
                patch = padded[b, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
                rows = [_plain_rnn(pool.rnn1, [patch[:, r, t] for t in range(kw)])
                        for r in range(kh)]
                cols = [_plain_rnn(pool.rnn1, [patch[:, t, c] for t in range(kh)])
                        for c in range(kw)]
                out[b, :, i, j] = torch.cat([
                    _plain_rnn(pool.rnn2, rows),
                    _plain_rnn(pool.rnn2, rows[::-1]),
                    _plain_rnn(pool.rnn2, cols),
                    _plain_rnn(pool.rnn2, cols[::-1]),
                ])
    return out


@pytest.mark.parametrize('geometry', GEOMETRIES, ids=lambda g: f'{g[0]}-k{g[1]}-s{g[2]}-p{g[3]}')
@pytest.mark.parametrize('nonlinearity', NONLINEARITIES)
@pytest.mark.parametrize('cell', CELLS)
def test_equals_plain_algorithm(cell, nonlinearity, geometry):
    size, kernel, stride, padding, ceil_mode = geometry
    pool = _randomised_pool(cell, nonlinearity, kernel_size=kernel, stride=stride,
                            padding=padding, ceil_mode=ceil_mode)
    torch.manual_seed(1)
    x = 2 * torch.randn(2, 2, *size, dtype=torch.float64)
    out = pool(x)
    expected = _reference_rnnpool(pool, x)
    assert out.shape == expected.shape
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-10)
    with torch.no_grad():  # the inference path (in-place steps for FastGRNN)
        torch.testing.assert_close(pool(x), expected, rtol=0, atol=1e-10)
    if nonlinearity == 'quant':  # the clamps were actually exercised
        pre = pool.rnn1.input_projection(x.permute(0, 2, 3, 1))
        assert (pre.abs() > 1).any() and (pre.abs() < 1).any()


def test_functional_form_and_attributes():
    pool = _randomised_pool('fastgrnn', 'standard', kernel_size=(3, 2), stride=(2, 1),
                            padding=(1, 0))
    assert pool.out_channels == 8 and pool.hidden_channels == (3, 2)
    assert pool.kernel_size == (3, 2) and pool.stride == (2, 1) and pool.padding == (1, 0)
    assert pool.rnn1.input_size == 2 and pool.rnn2.input_size == 3
    x = torch.randn(1, 2, 5, 4, dtype=torch.float64)
    torch.testing.assert_close(
        rnn_pool2d(x, pool.rnn1, pool.rnn2, (3, 2), (2, 1), (1, 0)), pool(x), rtol=0, atol=0)
    # Each image of a batch is pooled on its own.
    torch.testing.assert_close(
        pool(torch.cat([x, 2 * x])), torch.cat([pool(x), pool(2 * x)]), rtol=0, atol=1e-12)


def test_gradcheck():
    pool = _randomised_pool('fastgrnn', 'standard', kernel_size=(3, 2), stride=(2, 1),
                            padding=1)
    torch.manual_seed(2)
    x = torch.randn(1, 2, 4, 3, dtype=torch.float64, requires_grad=True)
    names = ['rnn1.W', 'rnn1.U', 'rnn1.bias_gate', 'rnn1.zeta', 'rnn2.W', 'rnn2.bias_update',
             'rnn2.nu']
    params = dict(pool.named_parameters())
    inputs = [x] + [params[name].detach().clone().requires_grad_(True) for name in names]

    def fn(inp, *values):
        return torch.func.functional_call(pool, dict(zip(names, values)), (inp, ))

    assert torch.autograd.gradcheck(fn, inputs)


@pytest.mark.parametrize('cell', ['gru', 'lstm'])
def test_gradcheck_other_cells(cell):
    pool = _randomised_pool(cell, 'standard', kernel_size=2, stride=1)
    x = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(pool, (x, ))


@pytest.mark.parametrize('ceil_mode', [False, True])
def test_output_size_follows_maxpool(ceil_mode):
    torch.manual_seed(0)
    checked = 0
    for kernel in [(2, 3), (4, 4), (8, 5)]:
        for stride in [(1, 1), (2, 3), kernel]:
            if stride[0] > kernel[0] or stride[1] > kernel[1]:
                continue
            for padding in [(0, 0), (kernel[0] // 2, kernel[1] // 2)]:
                pool = RNNPool(1, (1, 1), kernel, stride, padding, ceil_mode=ceil_mode)
                for size in [(kernel[0], kernel[1] + 1), (13, 9), (16, 17)]:
                    x = torch.zeros(1, 1, *size)
                    expected = nn.MaxPool2d(kernel, stride, padding, ceil_mode=ceil_mode)(x)
                    with torch.no_grad():
                        assert pool(x).shape[2:] == expected.shape[2:]
                    assert pool.output_size(*size) == tuple(expected.shape[2:])
                    checked += 1
    assert checked > 30


def test_onnx_export_matches_onnxruntime(tmp_path):
    ort = pytest.importorskip('onnxruntime')
    pool = RNNPool(3, (4, 5), kernel_size=(4, 3), stride=(2, 3), padding=1).eval()
    with torch.no_grad():
        for param in pool.parameters():
            param.copy_(0.5 * torch.randn_like(param))
    x = torch.randn(2, 3, 15, 13)
    path = str(tmp_path / 'rnnpool.onnx')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        torch.onnx.export(pool, (x, ), path, dynamo=False, opset_version=17,
                          input_names=['x'], output_names=['y'])
    import onnx
    model = onnx.load(path)
    domains = {node.domain for node in model.graph.node}
    assert domains <= {'', 'ai.onnx'}, f'custom ops in the graph: {domains}'
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    got = session.run(None, {'x': x.numpy()})[0]
    with torch.no_grad():
        want = pool(x).numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


@pytest.mark.slow
def test_onnx_dynamo_export_matches_onnxruntime(tmp_path):
    ort = pytest.importorskip('onnxruntime')
    pool = RNNPool(4, (3, 3), kernel_size=4, stride=2, nonlinearity='quant').eval()
    x = torch.randn(1, 4, 10, 12)
    path = str(tmp_path / 'rnnpool_dynamo.onnx')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        # The dynamo exporter has no opset-17 Pad adapter: it needs opset >= 18.
        torch.onnx.export(pool, (x, ), path, dynamo=True, opset_version=18, verbose=False)
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, pool(x).numpy(), rtol=0, atol=1e-5)


def test_build_from_config_in_root_and_child_registries():
    from mmengine.registry import MODELS, Registry
    cfg = dict(type='RNNPool', in_channels=4, hidden_channels=(8, 8), kernel_size=8, stride=4,
               cell='gru', nonlinearity='quant')
    pool = MODELS.build(cfg)
    assert isinstance(pool, RNNPool) and pool.out_channels == 32
    assert isinstance(pool.rnn1, GRUCell) and pool.rnn1.nonlinearity == 'quant'
    child = Registry('test_rnnpool_child', parent=MODELS, scope='test_rnnpool_child')
    assert isinstance(child.build(dict(cfg)), RNNPool)
    with torch.no_grad():
        assert pool(torch.zeros(1, 4, 16, 16)).shape == (1, 32, 3, 3)


def test_build_from_mmdet_registry():
    mmdet_registry = pytest.importorskip('mmdet.registry')
    pool = mmdet_registry.MODELS.build(dict(type='RNNPool', in_channels=3, hidden_channels=4))
    assert isinstance(pool, RNNPool) and pool.hidden_channels == (4, 4)


@pytest.mark.parametrize('kwargs, match', [
    (dict(kernel_size=3, stride=4), 'stride'),
    (dict(kernel_size=(4, 2), stride=(2, 3)), 'stride'),
    (dict(stride=0), 'stride'),
    (dict(hidden_channels=(0, 4)), 'hidden_channels'),
    (dict(hidden_channels=(4, -1)), 'hidden_channels'),
    (dict(hidden_channels=(4, 4, 4)), 'hidden_channels'),
    (dict(cell='rnn'), 'cell'),
    (dict(nonlinearity='relu'), 'nonlinearity'),
    (dict(kernel_size=4, padding=3), 'padding'),
    (dict(padding=-1), 'padding'),
    (dict(kernel_size=0), 'kernel_size'),
    (dict(kernel_size=2.5), 'kernel_size'),
    (dict(in_channels=0), 'in_channels'),
])
def test_bad_arguments(kwargs, match):
    kwargs = dict(dict(in_channels=3), **kwargs)
    with pytest.raises(ValueError, match=match):
        RNNPool(**kwargs)


def test_bad_inputs():
    pool = RNNPool(3, (2, 2), kernel_size=4, stride=2)
    with pytest.raises(ValueError, match='4-D'):
        pool(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match='channels'):
        pool(torch.zeros(1, 2, 8, 8))
    with pytest.raises(ValueError, match='smaller than kernel_size'):
        pool(torch.zeros(1, 3, 3, 8))
    with pytest.raises(ValueError, match='rnn2.input_size'):
        rnn_pool2d(torch.zeros(1, 3, 8, 8), pool.rnn1, FastGRNNCell(5, 2), 4, 2)


def test_functional_checks_geometry():
    pool = RNNPool(3, (2, 2), kernel_size=4, stride=2)
    with pytest.raises(ValueError, match='stride'):
        rnn_pool2d(torch.zeros(1, 3, 8, 8), pool.rnn1, pool.rnn2, 4, 5)
    with pytest.raises(ValueError, match='padding'):
        rnn_pool2d(torch.zeros(1, 3, 8, 8), pool.rnn1, pool.rnn2, 4, 2, 3)
