"""Hard-threshold sparsity for the RNNs of RNNPool layers (the paper's sparse M4 model).

After every optimizer step, each selected matrix (``W`` / ``U`` of ``rnn1`` / ``rnn2`` of every
:class:`~mmdet_rnnpool.ops.RNNPool` in the model) keeps only its largest-magnitude entries, a
configured fraction of them, and the rest are set to zero (iterative hard thresholding, as
FastGRNN's training does). Zeroed weights still get gradients and may re-enter the kept set
at a later step if they grow larger than the threshold. The paper's M4 model keeps 50% of
RNN1's ``W`` and 30% of the other three matrices (:data:`M4_KEEP_FRACTIONS`).
"""
import math
from typing import Dict, Optional, Union

import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from mmdet_rnnpool.ops import RNNPool

KeepFractions = Dict[str, Dict[str, Optional[float]]]

#: Kept (non-zero) fraction per RNN and matrix of the paper's RNNPool-Face-M4.
M4_KEEP_FRACTIONS: KeepFractions = dict(rnn1=dict(W=0.5, U=0.3), rnn2=dict(W=0.3, U=0.3))


def _check_keep_fractions(keep_fractions: KeepFractions) -> None:
    if not isinstance(keep_fractions, dict):
        raise ValueError(f'keep_fractions must be a dict like {M4_KEEP_FRACTIONS}, got '
                         f'{keep_fractions!r}')
    for rnn, matrices in keep_fractions.items():
        if rnn not in ('rnn1', 'rnn2') or not isinstance(matrices, dict):
            raise ValueError(f'keep_fractions: key {rnn!r} must be "rnn1" or "rnn2" mapping to '
                             f'a dict of W / U fractions, got {matrices!r}')
        for name, fraction in matrices.items():
            if name not in ('W', 'U'):
                raise ValueError(f'keep_fractions.{rnn}: matrix must be "W" or "U", got '
                                 f'{name!r}')
            if fraction is not None and not (isinstance(fraction, (int, float))
                                             and 0 < fraction <= 1):
                raise ValueError(f'keep_fractions.{rnn}.{name} must be in (0, 1] or None, '
                                 f'got {fraction!r}')


@torch.no_grad()
def hard_threshold_(weight: torch.Tensor, keep_fraction: float) -> int:
    """Zero all but the ``round(keep_fraction * numel)`` largest-magnitude entries, in place.

    At least one entry is kept; ties at the threshold are broken by ``torch.topk``.

    Args:
        weight (Tensor): The matrix to sparsify.
        keep_fraction (float): Fraction of entries kept, in (0, 1].

    Returns:
        int: Number of entries kept.
    """
    numel = weight.numel()
    keep = min(numel, max(1, int(math.floor(keep_fraction * numel + 0.5))))
    if keep < numel:
        mask = torch.zeros(numel, dtype=torch.bool, device=weight.device)
        mask[weight.abs().flatten().topk(keep, sorted=False).indices] = True
        weight.masked_fill_(~mask.view_as(weight), 0)
    return keep


def apply_rnn_sparsity(model: nn.Module,
                       keep_fractions: Optional[KeepFractions] = None,
                       scale: float = 1.0) -> int:
    """Hard-threshold the RNN matrices of every RNNPool in ``model``.

    Args:
        model (nn.Module): Any model (wrappers included); all its ``RNNPool`` modules are used.
        keep_fractions (dict, optional): ``{'rnn1': {'W': f, 'U': f}, 'rnn2': {...}}``, the
            kept fraction of each matrix; missing or None entries stay dense. Defaults to
            None, meaning :data:`M4_KEEP_FRACTIONS`.
        scale (float): Ramp position in [0, 1]: the kept fraction used is
            ``1 - scale * (1 - f)``. Defaults to 1.0.

    Returns:
        int: Number of RNNPool modules found.
    """
    keep_fractions = M4_KEEP_FRACTIONS if keep_fractions is None else keep_fractions
    _check_keep_fractions(keep_fractions)
    if not 0 <= scale <= 1:
        raise ValueError(f'scale must be in [0, 1], got {scale}')
    pools = [m for m in model.modules() if isinstance(m, RNNPool)]
    for pool in pools:
        for rnn_name, matrices in keep_fractions.items():
            weights = getattr(pool, rnn_name).sparsifiable_weights
            for name, fraction in matrices.items():
                if fraction is not None:
                    hard_threshold_(weights[name], 1 - scale * (1 - fraction))
    return len(pools)


@HOOKS.register_module()
class RNNSparsityHook(Hook):
    """Keep RNNPool's RNN matrices sparse during training by hard thresholding.

    Thresholds after each training iteration (i.e. after the optimizer step) from
    ``start_iter`` on. With ``ramp_iters > 0`` the kept fraction falls linearly from 1 (dense)
    to its target over that many iterations. Switch it on in a config with
    ``custom_hooks = [dict(type='RNNSparsityHook')]``.

    Args:
        keep_fractions (dict, optional): Kept fraction per RNN and matrix, e.g.
            ``dict(rnn1=dict(W=0.5, U=0.3), rnn2=dict(W=0.3, U=0.3))``; a missing or None entry
            stays dense. Defaults to None, meaning :data:`M4_KEEP_FRACTIONS`.
        start_iter (int): First iteration (0-based) after which weights are thresholded.
            Defaults to 0.
        ramp_iters (int): Iterations over which the kept fraction falls to its target.
            Defaults to 0.
        interval (int): Threshold every ``interval`` iterations (the last iteration is always
            thresholded). Defaults to 1.
    """

    priority = 'LOW'

    def __init__(self,
                 keep_fractions: Optional[KeepFractions] = None,
                 start_iter: int = 0,
                 ramp_iters: int = 0,
                 interval: int = 1) -> None:
        keep_fractions = M4_KEEP_FRACTIONS if keep_fractions is None else keep_fractions
        _check_keep_fractions(keep_fractions)
        self.keep_fractions = {k: dict(v) for k, v in keep_fractions.items()}
        for name, value in (('start_iter', start_iter), ('ramp_iters', ramp_iters)):
            if not isinstance(value, int) or value < 0:
                raise ValueError(f'RNNSparsityHook: {name} must be a non-negative int, got '
                                 f'{value!r}')
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(f'RNNSparsityHook: interval must be a positive int, got '
                             f'{interval!r}')
        self.start_iter = start_iter
        self.ramp_iters = ramp_iters
        self.interval = interval
        self._warned_no_pool = False

    def ramp_scale(self, iteration: int) -> float:
        """Ramp position in [0, 1] after the 0-based ``iteration``."""
        if self.ramp_iters == 0:
            return 1.0
        return min(1.0, (iteration - self.start_iter + 1) / self.ramp_iters)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Union[dict, tuple, list, None] = None,
                         outputs: Optional[dict] = None) -> None:
        iteration = runner.iter
        if iteration < self.start_iter:
            return
        is_last = iteration + 1 >= runner.max_iters
        if (iteration - self.start_iter) % self.interval and not is_last:
            return
        found = apply_rnn_sparsity(runner.model, self.keep_fractions,
                                   self.ramp_scale(iteration))
        if not found and not self._warned_no_pool:
            runner.logger.warning('RNNSparsityHook: the model has no RNNPool layer; '
                                  'nothing is sparsified')
            self._warned_no_pool = True
