"""The cells' documented equations, one vector at a time - the tests' independent reference
(shared by test_cells.py and test_rnnpool.py)."""
import torch

from mmdet_rnnpool.ops import FastGRNNCell, GRUCell


def plain_cell_step(cell, x, state):
    """The documented equations, one vector at a time (x: (I,), state: tuple of (H,))."""
    if cell.nonlinearity == 'standard':
        gate, act = torch.sigmoid, torch.tanh
    else:
        gate = lambda v: torch.clamp((v + 1) / 2, 0, 1)  # noqa: E731
        act = lambda v: torch.clamp(v, -1, 1)  # noqa: E731
    hid = cell.hidden_size
    if isinstance(cell, FastGRNNCell):
        a = cell.W @ x + cell.U @ state[0]
        z = gate(a + cell.bias_gate)
        h_tilde = act(a + cell.bias_update)
        coef = torch.sigmoid(cell.zeta) * (1 - z) + torch.sigmoid(cell.nu)
        return (z * state[0] + coef * h_tilde, )
    if isinstance(cell, GRUCell):
        gi = cell.W @ x + cell.bias_W
        gh = cell.U @ state[0] + cell.bias_U
        r = gate(gi[:hid] + gh[:hid])
        z = gate(gi[hid:2 * hid] + gh[hid:2 * hid])
        n = act(gi[2 * hid:] + r * gh[2 * hid:])
        return ((1 - z) * n + z * state[0], )
    g = cell.W @ x + cell.U @ state[0] + cell.bias
    c = gate(g[hid:2 * hid]) * state[1] + gate(g[:hid]) * act(g[2 * hid:3 * hid])
    return (gate(g[3 * hid:]) * act(c), c)
