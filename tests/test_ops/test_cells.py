import pytest
import torch
import torch.nn as nn

from mmdet_rnnpool.ops import (FASTGRNN_NU_INIT, FASTGRNN_ZETA_INIT, FastGRNNCell, GRUCell,
                               LSTMCell, build_rnn_cell, quant_sigmoid, quant_tanh)

CELLS = ['fastgrnn', 'gru', 'lstm']
# FastGRNN with learned zeta / nu (not the fixed default), so that every term matters
_LEARNED = {'fastgrnn': dict(learn_zeta_nu=True)}
NONLINEARITIES = ['standard', 'quant']
from plain_cell_reference import plain_cell_step


def _randomise(cell: nn.Module, scale: float = 0.5) -> nn.Module:
    """Non-zero biases, zeta and nu, so that every term of the equations matters."""
    torch.manual_seed(1)
    with torch.no_grad():
        for param in cell.parameters():
            param.copy_(scale * torch.randn_like(param))
    return cell


@pytest.mark.parametrize('nonlinearity', NONLINEARITIES)
@pytest.mark.parametrize('name', CELLS)
def test_sequence_matches_plain_equations(name, nonlinearity):
    cell = _randomise(build_rnn_cell(name, 3, 4, nonlinearity, _LEARNED.get(name)).double(),
                      scale=1.0)
    x = torch.randn(5, 6, 3, dtype=torch.float64)  # (T, M, I)
    out = cell(x)
    for m in range(6):
        state = tuple(torch.zeros(4, dtype=torch.float64) for _ in range(cell.num_state_tensors))
        for t in range(5):
            state = plain_cell_step(cell, x[t, m], state)
        torch.testing.assert_close(out[m], state[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize('nonlinearity', NONLINEARITIES)
@pytest.mark.parametrize('name', CELLS)
def test_step_api_and_zero_state_path(name, nonlinearity):
    cell = _randomise(build_rnn_cell(name, 3, 4, nonlinearity, _LEARNED.get(name)).double(),
                      scale=1.0)
    x = torch.randn(2, 7, 3, dtype=torch.float64)
    zeros = tuple(torch.zeros(7, 4, dtype=torch.float64) for _ in range(cell.num_state_tensors))
    first = cell.step(cell.input_projection(x[0]), None)
    # The cheaper zero-state path equals a step from an explicit zero state.
    for a, b in zip(first, cell.step(cell.input_projection(x[0]), zeros)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-14)
    second = cell.step(cell.input_projection(x[1]), first)
    for m in range(7):
        state = tuple(s[m] for s in first)
        for got, want in zip(second, plain_cell_step(cell, x[1, m], state)):
            torch.testing.assert_close(got[m], want, rtol=0, atol=1e-12)


def test_gru_and_lstm_match_torch_cells():
    torch.manual_seed(0)
    x = torch.randn(4, 5, 3, dtype=torch.float64)
    gru = _randomise(GRUCell(3, 6).double())
    ref = nn.GRUCell(3, 6).double()
    lstm = _randomise(LSTMCell(3, 6).double())
    ref_lstm = nn.LSTMCell(3, 6).double()
    with torch.no_grad():
        ref.weight_ih.copy_(gru.W)
        ref.weight_hh.copy_(gru.U)
        ref.bias_ih.copy_(gru.bias_W)
        ref.bias_hh.copy_(gru.bias_U)
        ref_lstm.weight_ih.copy_(lstm.W)
        ref_lstm.weight_hh.copy_(lstm.U)
        ref_lstm.bias_ih.copy_(lstm.bias)
        ref_lstm.bias_hh.zero_()
    h = torch.zeros(5, 6, dtype=torch.float64)
    h2, c2 = h.clone(), h.clone()
    for t in range(4):
        h = ref(x[t], h)
        h2, c2 = ref_lstm(x[t], (h2, c2))
    torch.testing.assert_close(gru(x), h, rtol=0, atol=1e-12)
    torch.testing.assert_close(lstm(x), h2, rtol=0, atol=1e-12)


def test_fastgrnn_learned_zeta_nu_init_gives_nearly_convex_update():
    cell = FastGRNNCell(3, 5, learn_zeta_nu=True, bias_init=0.0)
    assert cell.zeta.item() == FASTGRNN_ZETA_INIT and cell.nu.item() == FASTGRNN_NU_INIT
    assert {'zeta', 'nu'} <= dict(cell.named_parameters()).keys()
    torch.manual_seed(0)
    x, h = torch.randn(8, 3), torch.randn(8, 5)
    a = x @ cell.W.t() + h @ cell.U.t()
    z, h_tilde = torch.sigmoid(a), torch.tanh(a)
    new_h = cell.step(cell.input_projection(x), (h, ))[0]
    # h' = z h + (1 - z) h~ up to sigmoid(-10) ~ 4.5e-5 per unit of |h~|.
    torch.testing.assert_close(new_h, z * h + (1 - z) * h_tilde, rtol=0, atol=1e-4)
    assert not torch.allclose(new_h, z * h + (1 - z) * h_tilde, rtol=0, atol=1e-7)


@pytest.mark.parametrize('nonlinearity', NONLINEARITIES)
def test_fastgrnn_default_is_the_release_cell(nonlinearity):
    """Paper + release: sigmoid(zeta) = 1, sigmoid(nu) = 0 exactly and fixed; release:
    gate and update biases start at 1."""
    cell = FastGRNNCell(2, 2, nonlinearity).double()
    assert cell.bias_gate.tolist() == [1.0, 1.0] and cell.bias_update.tolist() == [1.0, 1.0]
    assert 'zeta' not in dict(cell.named_parameters())  # fixed: buffers, never trained
    assert {'zeta', 'nu'} <= cell.state_dict().keys()
    with torch.no_grad():
        cell.W.copy_(torch.tensor([[0.5, -1.0], [2.0, 0.25]]))
        cell.U.copy_(torch.tensor([[1.0, 0.5], [-0.5, 1.5]]))
    x = torch.tensor([[0.2, -0.4]], dtype=torch.float64)
    h = torch.tensor([[0.3, -0.6]], dtype=torch.float64)
    # by hand: a = W x + U h = (0.5*0.2 + 1*0.4 + 0.3 - 0.3, 0.4 - 0.1 - 0.15 - 0.9)
    a = torch.tensor([[0.5, -0.75]], dtype=torch.float64)
    torch.testing.assert_close(x @ cell.W.t() + h @ cell.U.t(), a, rtol=0, atol=1e-15)
    gate, act = ((torch.sigmoid, torch.tanh) if nonlinearity == 'standard' else
                 (quant_sigmoid, quant_tanh))
    z, h_tilde = gate(a + 1.0), act(a + 1.0)
    new_h = cell.step(cell.input_projection(x), (h, ))[0]
    torch.testing.assert_close(new_h, z * h + (1 - z) * h_tilde, rtol=0, atol=1e-15)
    # the zero-state first step: h' = (1 - z) h~
    first = cell.step(cell.input_projection(x))[0]
    z0 = gate(x @ cell.W.t() + 1.0)
    torch.testing.assert_close(first, (1 - z0) * act(x @ cell.W.t() + 1.0), rtol=0,
                               atol=1e-15)


def test_fastgrnn_cell_options_through_rnnpool():
    from mmdet_rnnpool.ops import RNNPool
    pool = RNNPool(2, (3, 2), kernel_size=2, stride=2,
                   cell_cfg=dict(bias_init=0.25, learn_zeta_nu=True))
    for cell in (pool.rnn1, pool.rnn2):
        assert cell.bias_gate.unique().tolist() == [0.25] and cell.learn_zeta_nu
    with pytest.raises(ValueError, match=r"\['gate_init'\] not argument"):
        RNNPool(2, (3, 2), cell_cfg=dict(gate_init=1.0))
    with pytest.raises(ValueError, match='bias_init'):
        FastGRNNCell(2, 2, bias_init=float('nan'))


def test_quant_nonlinearities_exact_values():
    x = torch.tensor([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])
    assert quant_tanh(x).tolist() == [-1.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.0]
    assert quant_sigmoid(x).tolist() == [0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0]


def test_parameter_layout():
    for cell, gates in ((FastGRNNCell(3, 4), 1), (GRUCell(3, 4), 3), (LSTMCell(3, 4), 4)):
        assert cell.W.shape == (gates * 4, 3) and cell.U.shape == (gates * 4, 4)
        assert set(cell.sparsifiable_weights) == {'W', 'U'}
        # No bias in the input projection: a zero (padding) pixel projects to zero.
        assert torch.count_nonzero(cell.input_projection(torch.zeros(2, 3))) == 0


def test_bad_arguments():
    with pytest.raises(ValueError, match='hidden_size'):
        FastGRNNCell(3, 0)
    with pytest.raises(ValueError, match='input_size'):
        GRUCell(-1, 4)
    with pytest.raises(ValueError, match='nonlinearity'):
        LSTMCell(3, 4, nonlinearity='relu')
    with pytest.raises(ValueError, match='cell'):
        build_rnn_cell('rnn', 3, 4)
    with pytest.raises(ValueError, match=r'\(T, M, 3\)'):
        FastGRNNCell(3, 4)(torch.zeros(2, 3))


@pytest.mark.parametrize('nonlinearity', NONLINEARITIES)
def test_fastgrnn_fused_backward_matches_autograd(nonlinearity):
    cell = _randomise(FastGRNNCell(3, 4, nonlinearity, learn_zeta_nu=True).double(), scale=1.0)
    x = torch.randn(5, 9, 3, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(9, 4, dtype=torch.float64)
    grads = []
    for fused in (True, False):
        cell.fused_backward = fused
        cell.zero_grad()
        x.grad = None
        out = cell(x)
        (out * weights).sum().backward()
        grads.append([out.detach(), x.grad] + [p.grad for p in cell.parameters()])
    for fused_grad, plain_grad in zip(*grads):
        torch.testing.assert_close(fused_grad, plain_grad, rtol=0, atol=1e-12)
    if nonlinearity == 'standard':
        cell.fused_backward = True
        assert torch.autograd.gradcheck(cell, (x[:3, :4].detach().requires_grad_(True), ))
