"""Recurrent cells for RNNPool: FastGRNN (the paper's cell), GRU and LSTM.

The cells are written so that the input projection ``W x`` can be computed apart from the
recurrence: RNNPool projects every pixel of a feature map once (a 1x1 convolution) and then
gathers the projections of the pixels that each patch row / column visits, instead of
recomputing ``W x`` for every overlapping patch.

Parameter layout (the int8 exporter reads these names; ``H`` = ``hidden_size``,
``I`` = ``input_size``; ``s`` = gate sigmoid, ``t`` = tanh):

* **FastGRNN** (:class:`FastGRNNCell`): ``W`` (H, I), ``U`` (H, H), ``bias_gate`` (H,),
  ``bias_update`` (H,), ``zeta`` (1,), ``nu`` (1,).
  ``a = W x + U h``; ``z = s(a + bias_gate)``; ``h~ = t(a + bias_update)``;
  ``h' = z h + (sigmoid(zeta) (1 - z) + sigmoid(nu)) h~``. By default (the paper and the
  authors' release) the factors are fixed at exactly 1 and 0 (``zeta`` / ``nu`` are buffers
  holding +inf / -inf), so ``h' = z h + (1 - z) h~``; ``learn_zeta_nu=True`` makes them
  parameters starting at +10 / -10 (:data:`FASTGRNN_ZETA_INIT`, :data:`FASTGRNN_NU_INIT`).
  Both biases start at ``bias_init`` (1, the release's).
* **GRU** (:class:`GRUCell`, the equations of ``torch.nn.GRUCell``): ``W`` (3H, I), ``U``
  (3H, H), ``bias_W`` (3H,), ``bias_U`` (3H,), rows ordered [reset r, update z, new n].
  ``r = s(W_r x + b_Wr + U_r h + b_Ur)``, ``z = s(W_z x + b_Wz + U_z h + b_Uz)``,
  ``n = t(W_n x + b_Wn + r (U_n h + b_Un))``, ``h' = (1 - z) n + z h``.
* **LSTM** (:class:`LSTMCell`): ``W`` (4H, I), ``U`` (4H, H), ``bias`` (4H,), rows ordered
  [input i, forget f, cell g, output o]. ``g_* = W_* x + U_* h + bias_*``;
  ``c' = s(g_f) c + s(g_i) t(g_g)``, ``h' = s(g_o) t(c')``; state ``(h, c)``.

FastGRNN's recurrence runs in the C++ kernel of :mod:`.cpu_kernels` for CPU float32 / float64
tensors where it can be built (same results to float round-off; tiles of 64 sequences, a
recomputing backward), and in Python otherwise.

The initial state is always zero. The 'standard' tanh is computed as ``2 sigmoid(2 x) - 1``
(:func:`sigmoid_tanh`, faster on CPU). ``nonlinearity='quant'`` replaces the gate sigmoid and the
tanh by the piecewise-linear :func:`quant_sigmoid` / :func:`quant_tanh` (used by int8 models);
the scalar ``sigmoid(zeta)`` / ``sigmoid(nu)`` of FastGRNN always use the exact sigmoid (they
are constants at inference time).
"""
import inspect
import math
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Type, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .cpu_kernels import load_cpu_kernel

State = Tuple[Tensor, ...]

#: With ``learn_zeta_nu=True``, FastGRNN's ``zeta`` / ``nu`` start at +10 / -10, so that
#: ``sigmoid(zeta) = 1 - 4.54e-5`` and ``sigmoid(nu) = 4.54e-5``: the update is
#: ``h' = z h + (1 - z) h~`` up to 4.6e-5, and the sigmoid's slope there (4.5e-5) keeps the
#: two factors practically fixed while staying trainable. The default fixes them exactly.
FASTGRNN_ZETA_INIT = 10.0
FASTGRNN_NU_INIT = -10.0
#: The authors' release initialises FastGRNN's gate and update biases to 1.
FASTGRNN_BIAS_INIT = 1.0


def quant_sigmoid(x: Tensor) -> Tensor:
    """Piecewise-linear sigmoid: ``clamp((x + 1) / 2, 0, 1)``."""
    return torch.clamp(x * 0.5 + 0.5, 0.0, 1.0)


def quant_tanh(x: Tensor) -> Tensor:
    """Piecewise-linear tanh: ``clamp(x, -1, 1)``."""
    return torch.clamp(x, -1.0, 1.0)


def sigmoid_tanh(x: Tensor) -> Tensor:
    """``tanh(x)`` computed as ``2 sigmoid(2 x) - 1`` (the same function).

    On CPU, torch 2.13's ``tanh`` kernel is 2-4x slower than its ``sigmoid`` kernel; this is
    the cells' 'standard' tanh. Float64 results match ``torch.tanh`` to ~3e-16, float32 to
    ~2e-7 (absolute).
    """
    return torch.sigmoid(2 * x) * 2 - 1


_NONLINEARITIES: Dict[str, Tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]] = {
    'standard': (torch.sigmoid, sigmoid_tanh),
    'quant': (quant_sigmoid, quant_tanh),
}


class BaseRNNCell(nn.Module):
    """Common interface of the RNNPool cells.

    Public, batch-first API: :meth:`input_projection` ``(..., I) -> (..., G*H)`` computes
    ``W x`` **without any bias** (so a zero padding pixel projects to zero and zero-padding
    commutes with it), and :meth:`step` ``(M, G*H), state -> state`` runs one recurrent step
    (state: a tuple of ``(M, H)`` tensors, ``(h,)`` or ``(h, c)``; ``None`` = zero state).

    Vectorised, feature-first API used by RNNPool (features on dim 0, sequences on the last
    dims, so that each gate is a contiguous block of the step's tensors):

    1. :meth:`precompute`: per-forward constants (re-laid-out ``U``, sigmoid-ed scalars), built
       once per forward pass instead of once per step.
    2. :meth:`step_inputs` ``(G*H, ...) -> (K, ...)``: adds the input-side biases to ``W x``
       and re-lays it out for the fused step; elementwise over the trailing dims, so it can be
       applied once to a whole projected map.
    3. :meth:`fused_step` ``(K, M), state -> state`` with state tensors ``(H, M)``;
       ``state=None`` is the zero initial state and takes a cheaper path.

    Args:
        input_size (int): Number of input features ``I``.
        hidden_size (int): Number of hidden features ``H``.
        nonlinearity (str): ``'standard'`` (sigmoid / tanh) or ``'quant'``
            (:func:`quant_sigmoid` / :func:`quant_tanh`). Defaults to ``'standard'``.
    """

    num_gates: int = 1
    num_state_tensors: int = 1

    def __init__(self, input_size: int, hidden_size: int,
                 nonlinearity: str = 'standard') -> None:
        super().__init__()
        for name, value in (('input_size', input_size), ('hidden_size', hidden_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f'{type(self).__name__}: {name} must be a positive int, '
                                 f'got {value!r}')
        if nonlinearity not in _NONLINEARITIES:
            raise ValueError(f'{type(self).__name__}: nonlinearity must be one of '
                             f'{sorted(_NONLINEARITIES)}, got {nonlinearity!r}')
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.nonlinearity = nonlinearity
        self.gate_fn, self.act_fn = _NONLINEARITIES[nonlinearity]
        self.W = nn.Parameter(torch.empty(self.num_gates * hidden_size, input_size))
        self.U = nn.Parameter(torch.empty(self.num_gates * hidden_size, hidden_size))

    def reset_parameters(self) -> None:
        """Uniform(-1/sqrt(H), 1/sqrt(H)) weights and biases, as torch's RNN cells."""
        bound = self.hidden_size**-0.5
        for param in self.parameters():
            nn.init.uniform_(param, -bound, bound)

    @property
    def sparsifiable_weights(self) -> Dict[str, nn.Parameter]:
        """The matrices the sparsity hook may threshold: ``{'W': W, 'U': U}``."""
        return {'W': self.W, 'U': self.U}

    def input_projection(self, x: Tensor) -> Tensor:
        """``W x`` (no bias) over the last dim: ``(..., I) -> (..., G*H)``."""
        return F.linear(x, self.W)

    def precompute(self) -> Dict[str, Tensor]:
        """Per-forward constants used by :meth:`step_inputs` and :meth:`fused_step`."""
        return {'U': self.U}

    def step_inputs(self, wx: Tensor, consts: Dict[str, Tensor]) -> Tensor:
        """Feature-first per-step input term ``(K, ...)`` from ``W x`` ``(G*H, ...)``."""
        raise NotImplementedError

    def fused_step(self, xb: Tensor, state: Optional[State],
                   consts: Dict[str, Tensor]) -> State:
        """One feature-first step: ``xb`` ``(K, M)``, state tensors ``(H, M)``."""
        raise NotImplementedError

    def step(self, wx: Tensor, state: Optional[State] = None) -> State:
        """One step from ``W x`` of shape ``(M, G*H)``.

        Args:
            wx (Tensor): :meth:`input_projection` of this step's input, ``(M, G*H)``.
            state (tuple[Tensor] | None): Previous state, tensors of shape ``(M, H)``;
                None for the zero initial state. Defaults to None.

        Returns:
            tuple[Tensor]: The new state, ``(h,)`` or ``(h, c)``, each ``(M, H)``.
        """
        consts = self.precompute()
        fm_state = None if state is None else tuple(s.t() for s in state)
        new_state = self.fused_step(self.step_inputs(wx.t(), consts), fm_state, consts)
        return tuple(s.t() for s in new_state)

    def recurrence(self, step_inputs: Tensor, consts: Dict[str, Tensor]) -> Tensor:
        """Run from the zero state over ``(K, T, M)`` step inputs; return the last ``h``.

        Python loops over the ``T`` steps only; autograd differentiates the steps.
        """
        # unbind is one autograd node whose backward is a single stack.
        return _step_loop(self, step_inputs.unbind(1), consts)

    @staticmethod
    def hidden(state: State) -> Tensor:
        """The hidden vector ``h`` of a state tuple."""
        return state[0]

    def forward(self, x: Tensor) -> Tensor:
        """Run over a sequence ``x`` of shape ``(T, M, I)`` from the zero state.

        Returns:
            Tensor: The last hidden state, ``(M, H)``.
        """
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f'{type(self).__name__}: expected x of shape (T, M, '
                             f'{self.input_size}), got {tuple(x.shape)}')
        consts = self.precompute()
        xb = self.step_inputs(self.input_projection(x).permute(2, 0, 1), consts)
        return run_recurrence(self, xb, consts).t()

    def extra_repr(self) -> str:
        return (f'input_size={self.input_size}, hidden_size={self.hidden_size}, '
                f'nonlinearity={self.nonlinearity!r}')


def _column(vector: Tensor, like: Tensor) -> Tensor:
    """View a (K,) vector so that it broadcasts over the trailing dims of ``like``."""
    return vector.view(-1, *([1] * (like.dim() - 1)))


class FastGRNNCell(BaseRNNCell):
    """FastGRNN cell (Kusupati et al., NeurIPS 2018), as RNNPool uses it.

    ``z = s(W x + U h + bias_gate)``, ``h~ = t(W x + U h + bias_update)``,
    ``h' = z h + (sigmoid(zeta) (1 - z) + sigmoid(nu)) h~``.

    The paper fixes ``sigmoid(zeta) = 1`` and ``sigmoid(nu) = 0`` "for stability", and so does
    the authors' release: by default ``zeta`` / ``nu`` are buffers holding +inf / -inf, whose
    sigmoids are exactly 1 and 0 (the same code path, no special case; they are saved with the
    model, so a checkpoint of a learned-factor cell keeps its factors when loaded).

    Args:
        input_size (int): Number of input features.
        hidden_size (int): Number of hidden features.
        nonlinearity (str): ``'standard'`` or ``'quant'``. Defaults to ``'standard'``.
        bias_init (float): Initial value of ``bias_gate`` and ``bias_update``.
            Defaults to :data:`FASTGRNN_BIAS_INIT` (1, the release's).
        learn_zeta_nu (bool): Make ``zeta`` / ``nu`` parameters starting at
            :data:`FASTGRNN_ZETA_INIT` / :data:`FASTGRNN_NU_INIT`. Defaults to False.
    """

    num_gates = 1

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = 'standard',
                 bias_init: float = FASTGRNN_BIAS_INIT, learn_zeta_nu: bool = False) -> None:
        super().__init__(input_size, hidden_size, nonlinearity)
        if isinstance(bias_init, bool) or not isinstance(bias_init, (int, float)) or \
                not math.isfinite(bias_init):
            raise ValueError(f'FastGRNNCell: bias_init must be a finite number, '
                             f'got {bias_init!r}')
        if not isinstance(learn_zeta_nu, bool):
            raise ValueError(f'FastGRNNCell: learn_zeta_nu must be a bool, got {learn_zeta_nu!r}')
        self.bias_init = float(bias_init)
        self.learn_zeta_nu = learn_zeta_nu
        self.fused_backward = True
        self.bias_gate = nn.Parameter(torch.empty(hidden_size))
        self.bias_update = nn.Parameter(torch.empty(hidden_size))
        if learn_zeta_nu:
            self.zeta = nn.Parameter(torch.empty(1))
            self.nu = nn.Parameter(torch.empty(1))
        else:
            self.register_buffer('zeta', torch.empty(1))
            self.register_buffer('nu', torch.empty(1))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform weights, biases at ``bias_init``, ``zeta`` / ``nu`` as documented."""
        bound = self.hidden_size**-0.5
        nn.init.uniform_(self.W, -bound, bound)
        nn.init.uniform_(self.U, -bound, bound)
        nn.init.constant_(self.bias_gate, self.bias_init)
        nn.init.constant_(self.bias_update, self.bias_init)
        with torch.no_grad():
            self.zeta.fill_(FASTGRNN_ZETA_INIT if self.learn_zeta_nu else math.inf)
            self.nu.fill_(FASTGRNN_NU_INIT if self.learn_zeta_nu else -math.inf)

    def extra_repr(self) -> str:
        return (f'{super().extra_repr()}, bias_init={self.bias_init}, '
                f'learn_zeta_nu={self.learn_zeta_nu}')

    def precompute(self) -> Dict[str, Tensor]:
        # W and U are shared by gate and update, so one matmul gives the gate pre-activation
        # a + bias_gate, and the update's is that plus (bias_update - bias_gate).
        sig_zeta = torch.sigmoid(self.zeta)
        return {
            'U': self.U,
            'bias_delta': (self.bias_update - self.bias_gate)[:, None],
            'bias_delta_x2': 2 * (self.bias_update - self.bias_gate)[:, None],
            'sig_zeta': sig_zeta,
            'sig_sum': sig_zeta + torch.sigmoid(self.nu),
        }

    def step_inputs(self, wx: Tensor, consts: Dict[str, Tensor]) -> Tensor:
        return wx + _column(self.bias_gate, wx)

    def fused_step(self, xb: Tensor, state: Optional[State],
                   consts: Dict[str, Tensor]) -> State:
        pre = xb if state is None else torch.addmm(xb, consts['U'], state[0])
        z = self.gate_fn(pre)
        if self.nonlinearity == 'standard':  # sigmoid_tanh with the 2x folded into the add
            h_tilde = torch.sigmoid(torch.add(consts['bias_delta_x2'], pre, alpha=2)) * 2 - 1
        else:
            h_tilde = self.act_fn(pre + consts['bias_delta'])
        # (sz (1 - z) + sn) h~ + z h  ==  (sz + sn) h~ + z (h - sz h~)
        if state is None:
            return (torch.addcmul(consts['sig_sum'], z, consts['sig_zeta'], value=-1) * h_tilde, )
        h = state[0]
        return (torch.addcmul(h_tilde * consts['sig_sum'], z,
                              torch.addcmul(h, h_tilde, consts['sig_zeta'], value=-1)), )

    def recurrence(self, step_inputs: Tensor, consts: Dict[str, Tensor]) -> Tensor:
        """As :meth:`BaseRNNCell.recurrence`, with a hand-written backward when training.

        On CPU (float32 / float64) the C++ kernel of :mod:`.cpu_kernels` runs the steps tile
        by tile and recomputes them in its backward (:class:`_FastGRNNKernelRecurrence`); where
        it is unavailable, and on other devices, the steps run with in-place tensor ops and,
        when gradients are needed, the fused backward (:class:`_FastGRNNRecurrence`) needs
        about half the tensor passes of autograd over the individual steps. Tracers /
        exporters get the plain steps. ``fused_backward = False`` on the cell turns all of
        these off.
        """
        if not self.fused_backward or _is_tracing():
            return super().recurrence(step_inputs, consts)
        args = (step_inputs, consts['U'], consts['bias_delta'], consts['sig_zeta'],
                consts['sig_sum'])
        kernel = _cpu_kernel_for(args)
        if kernel is not None:
            return _FastGRNNKernelRecurrence.apply(*args, self.nonlinearity == 'quant', kernel,
                                                   0, step_inputs.shape[1], 1, False)
        if not (torch.is_grad_enabled() and any(t.requires_grad for t in args)):
            # Inference: the same in-place steps, keeping only the running state.
            h_all = _fastgrnn_steps(*args, self.nonlinearity == 'quant', keep_all=False)[2]
            return h_all[-1]
        return _FastGRNNRecurrence.apply(step_inputs, consts['U'], consts['bias_delta'],
                                         consts['sig_zeta'], consts['sig_sum'],
                                         self.nonlinearity == 'quant')

    def window_recurrence(self, feature_map: Tensor, dim: int, size: int, step: int,
                          consts: Dict[str, Tensor], reverse: bool = False) -> Optional[Tensor]:
        """Run over the windows of a map straight from the map, where the C++ kernel can.

        The sequences are the windows of ``size`` elements and stride ``step`` along ``dim``
        (2 or 3) of the feature-first ``(K, N, A, B)`` map of :meth:`step_inputs` terms,
        ordered like the map with ``dim`` replaced by the window index; ``reverse`` runs each
        window from its last element to its first. Equals :meth:`recurrence` over those
        windows stacked into ``(K, size, L)``, without materialising them (nor, in the
        backward, their gradient).

        Returns:
            Tensor | None: The last ``h`` ``(H, L)``; None where the kernel does not apply
            (not CPU float32 / float64, tracing, ``fused_backward`` off, kernel unavailable).
        """
        last = self.window_recurrences(feature_map, [(dim, size, step, reverse)], consts)
        return None if last is None else last[0]

    def window_recurrences(self, feature_map: Tensor, windows: Sequence[Tuple[int, int, int, bool]],
                           consts: Dict[str, Tensor]) -> Optional[Tuple[Tensor, ...]]:
        """:meth:`window_recurrence` over several window sets of one map in one autograd node.

        Args:
            feature_map (Tensor): The ``(K, N, A, B)`` map of step inputs.
            windows (list[tuple]): ``(dim, size, step, reverse)`` of each window set.
            consts (dict): :meth:`precompute`.

        Returns:
            tuple[Tensor] | None: The last ``h`` of each set, or None where the kernel does not
            apply. The backward adds every set's gradient into one gradient of the map.
        """
        kernel = self.map_kernel(feature_map)
        if kernel is None:
            return None
        args = (feature_map, consts['U'], consts['bias_delta'], consts['sig_zeta'],
                consts['sig_sum'])
        return _FastGRNNKernelWindows.apply(*args, self.nonlinearity == 'quant', kernel,
                                            tuple(tuple(w) for w in windows))

    def map_kernel(self, *tensors: Tensor) -> Optional[Any]:
        """The C++ kernel where it runs this cell over ``tensors`` (and the cell's own), else
        None (not CPU float32 / float64, tracing, ``fused_backward`` off, kernel unavailable)."""
        if not self.fused_backward or _is_tracing():
            return None
        return _cpu_kernel_for((*tensors, self.W, self.U, self.bias_gate, self.bias_update))

    def map_step_inputs(self, x: Tensor) -> Tensor:
        """:meth:`step_inputs` of every pixel of ``x`` ``(N, I, A, B)``, feature-first
        ``(H, N, A, B)``: ``W x + bias_gate`` written straight in that layout (one product per
        image, no transposed copy, no separate bias pass), with a backward of one product per
        image for each gradient."""
        return _MapProjection.apply(x, self.W, self.bias_gate)


def _fastgrnn_steps(xb: Tensor, U: Tensor, bias_delta: Tensor, sig_zeta: Tensor,
                    sig_sum: Tensor, quant: bool, keep_all: bool) -> Tuple[Tensor, Tensor, Tensor]:
    """FastGRNN over ``xb`` ``(H, T, M)`` with in-place tensor ops (no autograd).

    Returns ``z``, ``h~`` and ``h`` of every step, ``(T, H, M)`` each, if ``keep_all``; else
    buffers of one or two steps whose ``h[-1]`` is the last state.
    """
    hid, steps, num = xb.shape
    bias_delta_x2 = 2 * bias_delta
    z_all = xb.new_empty(steps if keep_all else 1, hid, num)
    h_tilde_all = xb.new_empty(steps if keep_all else 1, hid, num)
    h_all = xb.new_empty(steps if keep_all else 2, hid, num)
    pre_buffer = xb.new_empty(hid, num)
    for t in range(steps):
        slot = t if keep_all else 0
        z, h_tilde = z_all[slot], h_tilde_all[slot]
        h_prev = None if t == 0 else h_all[t - 1 if keep_all else (t - 1) % 2]
        h = h_all[t if keep_all else t % 2]
        pre = xb[:, t] if h_prev is None else torch.addmm(xb[:, t], U, h_prev, out=pre_buffer)
        if quant:
            torch.mul(pre, 0.5, out=z).add_(0.5).clamp_(0.0, 1.0)
            torch.add(pre, bias_delta, out=h_tilde).clamp_(-1.0, 1.0)
        else:
            torch.sigmoid(pre, out=z)
            # tanh(a) = 2 sigmoid(2 a) - 1 (see sigmoid_tanh)
            torch.add(bias_delta_x2, pre, alpha=2, out=h_tilde).sigmoid_().mul_(2).sub_(1)
        if h_prev is None:
            torch.addcmul(sig_sum, z, sig_zeta, value=-1, out=h).mul_(h_tilde)
        else:
            torch.addcmul(h_prev, h_tilde, sig_zeta, value=-1, out=h)
            h.mul_(z).addcmul_(h_tilde, sig_sum)
    if not keep_all and steps % 2 == 1:
        h_all = h_all[:1]
    return z_all, h_tilde_all, h_all


class _FastGRNNRecurrence(torch.autograd.Function):
    """FastGRNN over ``T`` steps from the zero state with a fused backward pass.

    Inputs: step inputs ``xb`` ``(H, T, M)`` (``W x + bias_gate``), ``U`` ``(H, H)``,
    ``bias_delta = bias_update - bias_gate`` ``(H, 1)``, ``sig_zeta`` and
    ``sig_sum = sigmoid(zeta) + sigmoid(nu)`` (``(1,)`` each), and the quant flag. Output: the
    last ``h`` ``(H, M)``. Saves ``z``, ``h~`` and ``h`` of every step (what autograd would).
    """

    @staticmethod
    def forward(ctx: Any, xb: Tensor, U: Tensor, bias_delta: Tensor, sig_zeta: Tensor,
                sig_sum: Tensor, quant: bool) -> Tensor:
        z_all, h_tilde_all, h_all = _fastgrnn_steps(xb, U, bias_delta, sig_zeta, sig_sum, quant,
                                                    keep_all=True)
        ctx.quant = quant
        ctx.save_for_backward(U, sig_zeta, sig_sum, z_all, h_tilde_all, h_all)
        return h_all[-1].clone()

    @staticmethod
    def backward(ctx: Any, grad_h: Tensor):
        U, sig_zeta, sig_sum, z_all, h_tilde_all, h_all = ctx.saved_tensors
        steps, hid, num = z_all.shape
        grad_xb = grad_h.new_empty(hid, steps, num)
        grad_U = torch.zeros_like(U)
        grad_bias_delta = grad_h.new_zeros(hid, 1)
        grad_sig_zeta = grad_h.new_zeros(1)
        grad_sig_sum = grad_h.new_zeros(1)
        g = grad_h.contiguous().clone()
        for t in range(steps - 1, -1, -1):
            z, h_tilde = z_all[t], h_tilde_all[t]
            # h' = z h + (sig_sum - sig_zeta z) h~
            g_h_tilde = g * h_tilde
            grad_sig_sum += g_h_tilde.sum()
            grad_sig_zeta -= torch.dot(g_h_tilde.view(-1), z.view(-1))
            grad_z = g_h_tilde.mul_(-sig_zeta)
            if t > 0:
                grad_z.addcmul_(g, h_all[t - 1])
            grad_pre_h = torch.addcmul(sig_sum, z, sig_zeta, value=-1).mul_(g)
            if ctx.quant:
                grad_pre_h.mul_((h_tilde > -1) & (h_tilde < 1))
                grad_pre_z = grad_z.mul_(((z > 0) & (z < 1)) * 0.5)
            else:
                grad_pre_h = torch.ops.aten.tanh_backward(grad_pre_h, h_tilde)
                grad_pre_z = torch.ops.aten.sigmoid_backward(grad_z, z)
            grad_pre = torch.add(grad_pre_z, grad_pre_h, out=grad_xb[:, t])
            grad_bias_delta += grad_pre_h.sum(1, keepdim=True)
            if t > 0:
                grad_U.addmm_(grad_pre, h_all[t - 1].t())
                g = torch.addmm(g.mul_(z), U.t(), grad_pre)
        return grad_xb, grad_U, grad_bias_delta, grad_sig_zeta, grad_sig_sum, None


def _cpu_kernel_for(tensors: Sequence[Tensor]) -> Optional[Any]:
    """The C++ kernel module when all ``tensors`` are CPU float32 / float64 of one dtype."""
    dtype = tensors[0].dtype
    if dtype not in (torch.float32, torch.float64) or any(
            t.device.type != 'cpu' or t.dtype != dtype for t in tensors):
        return None
    return load_cpu_kernel()


class _FastGRNNKernelRecurrence(torch.autograd.Function):
    """:class:`_FastGRNNRecurrence` computed by the C++ CPU kernel (see :mod:`.cpu_kernels`).

    ``source`` is either the ``(H, T, M)`` step inputs (``mode`` 0) or an ``(H, N, A, B)`` map
    whose windows of ``steps`` elements and stride ``stride`` along dim ``mode`` (2 or 3) are
    the sequences, run backwards if ``reverse`` (see :meth:`FastGRNNCell.window_recurrence`).
    Saves only its inputs: the backward recomputes the steps tile by tile, in cache.
    """

    @staticmethod
    def forward(ctx: Any, source: Tensor, U: Tensor, bias_delta: Tensor, sig_zeta: Tensor,
                sig_sum: Tensor, quant: bool, kernel: Any, mode: int, steps: int, stride: int,
                reverse: bool) -> Tensor:
        source, U = source.contiguous(), U.contiguous()
        flat_bias = bias_delta.reshape(-1).contiguous()
        ctx.args = (mode, steps, stride, reverse)
        ctx.tail = (float(sig_zeta), float(sig_sum), quant)
        ctx.kernel, ctx.bias_shape = kernel, bias_delta.shape
        ctx.save_for_backward(source, U, flat_bias)
        return kernel.fastgrnn_forward(source, *ctx.args, U, flat_bias, *ctx.tail)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_h: Tensor):
        source, U, flat_bias = ctx.saved_tensors
        grad_source, grad_U, grad_bias, grad_sig_zeta, grad_sig_sum = ctx.kernel.fastgrnn_backward(
            grad_h.contiguous(), source, *ctx.args, U, flat_bias, *ctx.tail)
        return (grad_source, grad_U, grad_bias.view(ctx.bias_shape), grad_sig_zeta,
                grad_sig_sum, None, None, None, None, None, None)


class _FastGRNNKernelWindows(torch.autograd.Function):
    """Several window sets of one map through the C++ kernel (see
    :meth:`FastGRNNCell.window_recurrences`): one output per set; the backward adds all sets'
    gradients into one gradient of the map (one zero fill) and sums the parameters'."""

    @staticmethod
    def forward(ctx: Any, source: Tensor, U: Tensor, bias_delta: Tensor, sig_zeta: Tensor,
                sig_sum: Tensor, quant: bool, kernel: Any, windows: Tuple[Tuple[int, ...], ...]):
        source, U = source.contiguous(), U.contiguous()
        flat_bias = bias_delta.reshape(-1).contiguous()
        ctx.windows, ctx.tail = windows, (float(sig_zeta), float(sig_sum), quant)
        ctx.kernel, ctx.bias_shape = kernel, bias_delta.shape
        ctx.save_for_backward(source, U, flat_bias)
        return tuple(kernel.fastgrnn_forward(source, dim, size, step, reverse, U, flat_bias,
                                             *ctx.tail) for dim, size, step, reverse in windows)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, *grads: Optional[Tensor]):
        source, U, flat_bias = ctx.saved_tensors
        grad_source = None
        totals = None
        for (dim, size, step, reverse), grad in zip(ctx.windows, grads):
            if grad is None:  # an unused output adds nothing
                continue
            if grad_source is None:
                grad_source = torch.zeros_like(source)
            parts = ctx.kernel.fastgrnn_backward(grad.contiguous(), source, dim, size, step,
                                                 reverse, U, flat_bias, *ctx.tail,
                                                 grad_into=grad_source)[1:]
            totals = parts if totals is None else [a + b for a, b in zip(totals, parts)]
        if totals is None:
            return (None, ) * 8
        grad_U, grad_bias, grad_sig_zeta, grad_sig_sum = totals
        return (grad_source, grad_U, grad_bias.view(ctx.bias_shape), grad_sig_zeta, grad_sig_sum,
                None, None, None)


class _MapProjection(torch.autograd.Function):
    """``W x + b`` per pixel of ``x`` ``(N, I, A, B)`` into a feature-first ``(H, N, A, B)`` map.

    One product per image written straight into its slice of the map (BLAS writes a strided
    output, so there is no transposed copy); the backward is likewise one product per image
    for the input's gradient and one accumulated product per image for ``W``'s.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, W: Tensor, bias: Tensor) -> Tensor:
        batch, _, height, width = x.shape
        out = x.new_empty(W.shape[0], batch, height * width)
        bias_column = bias[:, None]
        for n in range(batch):
            torch.addmm(bias_column, W, x[n].reshape(x.shape[1], -1), out=out[:, n])
        ctx.save_for_backward(x, W)
        return out.view(W.shape[0], batch, height, width)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: Tensor):
        x, W = ctx.saved_tensors
        batch, chans = x.shape[:2]
        grad = grad.contiguous().view(W.shape[0], batch, x.shape[2] * x.shape[3])
        grad_x = grad_W = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_x = x.new_empty(x.shape)
            for n in range(batch):
                torch.mm(W.t(), grad[:, n], out=grad_x[n].view(chans, -1))
        if ctx.needs_input_grad[1]:
            grad_W = torch.zeros_like(W)
            for n in range(batch):
                grad_W.addmm_(grad[:, n], x[n].reshape(chans, -1).t())
        if ctx.needs_input_grad[2]:
            grad_bias = grad.sum((1, 2))
        return grad_x, grad_W, grad_bias


class GRUCell(BaseRNNCell):
    """GRU cell with ``torch.nn.GRUCell``'s equations and gate order [r, z, n].

    Args:
        input_size (int): Number of input features.
        hidden_size (int): Number of hidden features.
        nonlinearity (str): ``'standard'`` or ``'quant'``. Defaults to ``'standard'``.
    """

    num_gates = 3

    def __init__(self, input_size: int, hidden_size: int,
                 nonlinearity: str = 'standard') -> None:
        super().__init__(input_size, hidden_size, nonlinearity)
        self.bias_W = nn.Parameter(torch.empty(3 * hidden_size))
        self.bias_U = nn.Parameter(torch.empty(3 * hidden_size))
        self.reset_parameters()

    def precompute(self) -> Dict[str, Tensor]:
        return {'U': self.U, 'bias_U': self.bias_U[:, None]}

    def step_inputs(self, wx: Tensor, consts: Dict[str, Tensor]) -> Tensor:
        return wx + _column(self.bias_W, wx)

    def fused_step(self, xb: Tensor, state: Optional[State],
                   consts: Dict[str, Tensor]) -> State:
        hid = self.hidden_size
        if state is None:
            uh = consts['bias_U']  # U 0 + b_U, broadcast over the batch
        else:
            uh = torch.addmm(consts['bias_U'], consts['U'], state[0])
        rz = self.gate_fn(xb[:2 * hid] + uh[:2 * hid])
        r, z = rz[:hid], rz[hid:]
        n = self.act_fn(torch.addcmul(xb[2 * hid:], r, uh[2 * hid:]))
        if state is None:
            return (n - z * n, )
        return (torch.addcmul(n, z, state[0] - n), )


class LSTMCell(BaseRNNCell):
    """LSTM cell with gate order [i, f, g, o] and one bias vector; state ``(h, c)``.

    Args:
        input_size (int): Number of input features.
        hidden_size (int): Number of hidden features.
        nonlinearity (str): ``'standard'`` or ``'quant'``. Defaults to ``'standard'``.
    """

    num_gates = 4
    num_state_tensors = 2

    def __init__(self, input_size: int, hidden_size: int,
                 nonlinearity: str = 'standard') -> None:
        super().__init__(input_size, hidden_size, nonlinearity)
        self.bias = nn.Parameter(torch.empty(4 * hidden_size))
        self.reset_parameters()

    def step_inputs(self, wx: Tensor, consts: Dict[str, Tensor]) -> Tensor:
        return wx + _column(self.bias, wx)

    def fused_step(self, xb: Tensor, state: Optional[State],
                   consts: Dict[str, Tensor]) -> State:
        hid = self.hidden_size
        gates = xb if state is None else torch.addmm(xb, consts['U'], state[0])
        i = self.gate_fn(gates[:hid])
        g = self.act_fn(gates[2 * hid:3 * hid])
        o = self.gate_fn(gates[3 * hid:])
        if state is None:
            c = i * g
        else:
            c = torch.addcmul(i * g, self.gate_fn(gates[hid:2 * hid]), state[1])
        return (o * self.act_fn(c), c)


RNN_CELLS: Dict[str, Type[BaseRNNCell]] = {
    'fastgrnn': FastGRNNCell,
    'gru': GRUCell,
    'lstm': LSTMCell,
}


def build_rnn_cell(cell: str, input_size: int, hidden_size: int,
                   nonlinearity: str = 'standard',
                   cell_cfg: Optional[Dict[str, Any]] = None) -> BaseRNNCell:
    """Build a cell by name (``'fastgrnn'``, ``'gru'`` or ``'lstm'``).

    Args:
        cell (str): Cell name, case-insensitive.
        input_size (int): Number of input features.
        hidden_size (int): Number of hidden features.
        nonlinearity (str): ``'standard'`` or ``'quant'``. Defaults to ``'standard'``.
        cell_cfg (dict, optional): Further arguments of the cell class (FastGRNN:
            ``bias_init``, ``learn_zeta_nu``). Defaults to None.

    Returns:
        BaseRNNCell: The cell.
    """
    key = cell.lower() if isinstance(cell, str) else cell
    if key not in RNN_CELLS:
        raise ValueError(f'cell must be one of {sorted(RNN_CELLS)}, got {cell!r}')
    cell_cfg = dict(cell_cfg or {})
    cls = RNN_CELLS[key]
    accepted = set(inspect.signature(cls.__init__).parameters) - {
        'self', 'input_size', 'hidden_size', 'nonlinearity'}
    unknown = sorted(set(cell_cfg) - accepted)
    if unknown:
        raise ValueError(f'cell_cfg: {unknown} not argument(s) of the {key!r} cell (it takes '
                         f'{sorted(accepted)})')
    return cls(input_size, hidden_size, nonlinearity, **cell_cfg)


def _is_tracing() -> bool:
    """True while a tracer / exporter records the graph (it must see plain tensor ops)."""
    checks = [torch.jit.is_tracing, torch.onnx.is_in_onnx_export]
    compiler = getattr(torch, 'compiler', None)
    for name in ('is_compiling', 'is_exporting'):
        if compiler is not None and hasattr(compiler, name):
            checks.append(getattr(compiler, name))
    return any(check() for check in checks)


def run_recurrence(cell: BaseRNNCell, step_inputs: Union[Tensor, Sequence[Tensor]],
                   consts: Dict[str, Tensor]) -> Tensor:
    """Run ``cell`` from the zero state over per-step inputs and return the last ``h``.

    Args:
        cell (BaseRNNCell): The cell.
        step_inputs (Tensor | Sequence[Tensor]): One ``(K, T, M)`` tensor or ``T`` tensors
            ``(K, M)`` of feature-first :meth:`BaseRNNCell.step_inputs` terms.
        consts (dict): :meth:`BaseRNNCell.precompute` of ``cell``.

    Returns:
        Tensor: ``(H, M)``.
    """
    if isinstance(step_inputs, Tensor):
        return cell.recurrence(step_inputs, consts)
    return _step_loop(cell, step_inputs, consts)


def _step_loop(cell: BaseRNNCell, step_inputs: Sequence[Tensor],
               consts: Dict[str, Tensor]) -> Tensor:
    state: Optional[State] = None
    for xb in step_inputs:
        state = cell.fused_step(xb, state, consts)
    if state is None:
        raise ValueError('run_recurrence needs at least one time step')
    return cell.hidden(state)
