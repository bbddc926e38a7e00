"""ReNet against a per-position reference built from the cells' own sequence forward."""
import pytest
import torch

from mmdet_rnnpool.ops import ReNet


def _sweep_reference(forward_cell, backward_cell, seq):
    """State at t of the forward sweep = last state over seq[:t+1]; backward over seq[t:]
    reversed. Uses the cells' whole-sequence forward, a different code path than ReNet's."""
    steps = seq.shape[0]
    fwd = [forward_cell(seq[:t + 1]) for t in range(steps)]
    bwd = [backward_cell(seq[t:].flip(0)) for t in range(steps)]
    return torch.stack([torch.cat([f, b], -1) for f, b in zip(fwd, bwd)])


def _reference(layer: ReNet, x: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    p, q = layer.patch_size
    gh, gw = -(-h // p), -(-w // q)
    x = torch.nn.functional.pad(x, (0, gw * q - w, 0, gh * p - h))
    out = torch.zeros(n, layer.out_channels, gh, gw)
    for b in range(n):
        grid = [[x[b, :, i * p:(i + 1) * p, j * q:(j + 1) * q].reshape(-1) for j in range(gw)]
                for i in range(gh)]
        rows = torch.stack([
            _sweep_reference(layer.row_forward, layer.row_backward,
                             torch.stack(grid[i])[:, None])[:, 0] for i in range(gh)
        ])  # (gh, gw, 2 h1)
        for j in range(gw):
            col = _sweep_reference(layer.col_forward, layer.col_backward, rows[:, j][:, None])
            out[b, :, :, j] = col[:, 0].t()
    return out


@pytest.mark.parametrize('cell', ['gru', 'fastgrnn', 'lstm'])
def test_renet_matches_reference(cell):
    torch.manual_seed(0)
    layer = ReNet(3, hidden_channels=(4, 5), patch_size=2, cell=cell)
    x = torch.randn(2, 3, 6, 8)
    y = layer(x)
    assert y.shape == (2, 10, 3, 4)
    torch.testing.assert_close(y, _reference(layer, x), rtol=1e-5, atol=1e-5)


def test_renet_pads_partial_patches_and_trains():
    torch.manual_seed(0)
    layer = ReNet(2, hidden_channels=3, patch_size=(2, 3))
    x = torch.randn(1, 2, 5, 7, requires_grad=True)
    y = layer(x)
    assert y.shape == (1, 6, 3, 3) and layer.output_size(5, 7) == (3, 3)
    torch.testing.assert_close(y, _reference(layer, x.detach()), rtol=1e-5, atol=1e-5)
    y.square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in layer.parameters())


def test_renet_registered_and_bad_input():
    from mmengine.registry import MODELS
    layer = MODELS.build(dict(type='ReNet', in_channels=4, hidden_channels=8))
    assert isinstance(layer, ReNet) and layer.out_channels == 16 and layer.stride == (4, 4)
    with pytest.raises(ValueError, match='in_channels'):
        ReNet(0)
    with pytest.raises(ValueError, match='patch_size'):
        ReNet(4, patch_size=0)
    with pytest.raises(ValueError, match='cell'):
        ReNet(4, cell='rnn')
    with pytest.raises(ValueError, match=r'expected input \(N, 4, H, W\)'):
        layer(torch.zeros(1, 3, 8, 8))
