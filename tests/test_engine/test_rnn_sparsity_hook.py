import logging
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.registry import HOOKS

from mmdet_rnnpool.engine import RNNSparsityHook, apply_rnn_sparsity, hard_threshold_
from mmdet_rnnpool.ops import RNNPool


def _nonzero_fraction(weight: torch.Tensor) -> float:
    return torch.count_nonzero(weight).item() / weight.numel()


class _TinyPoolNet(BaseModel):
    """RNNPool + 1x1 conv regression model for a few training iterations."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = RNNPool(2, (10, 10), kernel_size=4, stride=2)
        self.head = nn.Conv2d(40, 1, 1)

    def forward(self, inputs, targets=None, mode='tensor'):
        out = self.head(self.pool(inputs)).mean(dim=(1, 2, 3))
        if mode == 'loss':
            return {'loss': ((out - targets)**2).mean()}
        return out


def _dataset(n=8):
    torch.manual_seed(0)
    return [dict(inputs=torch.randn(2, 8, 8), targets=torch.randn(())) for _ in range(n)]


def test_hard_threshold_keeps_largest_entries():
    weight = torch.tensor([[0.1, -5.0, 0.3], [2.0, -0.2, 0.05]], dtype=torch.float64)
    assert hard_threshold_(weight, 0.5) == 3
    assert weight.tolist() == [[0.0, -5.0, 0.3], [2.0, 0.0, 0.0]]
    assert hard_threshold_(weight, 0.01) == 1  # at least one entry survives
    assert torch.count_nonzero(weight) == 1 and weight[0, 1] == -5.0


def test_apply_rnn_sparsity_m4_fractions():
    model = nn.Sequential(RNNPool(4, (16, 16)), nn.ReLU(), RNNPool(64, (8, 8), 2, 2))
    assert apply_rnn_sparsity(model) == 2
    for pool in (model[0], model[2]):
        assert _nonzero_fraction(pool.rnn1.W) == pytest.approx(0.5, abs=0.02)
        for weight in (pool.rnn1.U, pool.rnn2.W, pool.rnn2.U):
            assert _nonzero_fraction(weight) == pytest.approx(0.3, abs=0.02)
        # Biases and FastGRNN's zeta / nu are left alone.
        assert pool.rnn1.zeta.item() != 0


def test_apply_rnn_sparsity_partial_config_and_ramp():
    pool = RNNPool(4, (16, 16), cell='gru')
    dense_u = pool.rnn1.U.detach().clone()
    apply_rnn_sparsity(pool, dict(rnn1=dict(W=0.2)), scale=0.5)  # 1 - 0.5 * 0.8 = 0.6
    assert _nonzero_fraction(pool.rnn1.W) == pytest.approx(0.6, abs=0.02)
    assert torch.equal(pool.rnn1.U, dense_u)
    assert _nonzero_fraction(pool.rnn2.W) == 1.0


@pytest.mark.parametrize('bad', [
    dict(rnn3=dict(W=0.5)),
    dict(rnn1=dict(V=0.5)),
    dict(rnn1=dict(W=0.0)),
    dict(rnn1=dict(W=1.5)),
    dict(rnn1=0.5),
])
def test_bad_keep_fractions(bad):
    with pytest.raises(ValueError, match='keep_fractions'):
        RNNSparsityHook(keep_fractions=bad)


def test_bad_schedule_arguments():
    with pytest.raises(ValueError, match='start_iter'):
        RNNSparsityHook(start_iter=-1)
    with pytest.raises(ValueError, match='interval'):
        RNNSparsityHook(interval=0)


def test_hook_schedule_with_fake_runner():
    model = nn.Sequential(RNNPool(3, (8, 8)))
    hook = HOOKS.build(
        dict(type='RNNSparsityHook', keep_fractions=dict(rnn1=dict(W=0.5), rnn2=dict(U=0.25)),
             start_iter=2, ramp_iters=4))
    runner = SimpleNamespace(model=model, iter=0, max_iters=100,
                             logger=logging.getLogger('test'))
    expected = {0: 1.0, 1: 1.0, 2: 1 - 0.25 * 0.5, 3: 1 - 0.5 * 0.5, 5: 0.5, 9: 0.5}
    for iteration in range(10):
        runner.iter = iteration
        with torch.no_grad():  # a "training step" that makes every weight non-zero again
            for param in model.parameters():
                param.add_(0.01)
        hook.after_train_iter(runner, batch_idx=iteration)
        if iteration in expected:
            assert _nonzero_fraction(model[0].rnn1.W) == pytest.approx(
                expected[iteration], abs=1 / 32), iteration
    assert _nonzero_fraction(model[0].rnn2.U) == pytest.approx(0.25, abs=1 / 64)
    assert _nonzero_fraction(model[0].rnn1.U) == 1.0


def test_hook_in_runner(tmp_path):
    from mmengine.runner import Runner
    runner = Runner(
        model=_TinyPoolNet(),
        work_dir=str(tmp_path),
        train_dataloader=dict(
            dataset=_dataset(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate'),
            batch_size=2,
            num_workers=0),
        train_cfg=dict(by_epoch=False, max_iters=3),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        custom_hooks=[dict(type='RNNSparsityHook')],
        default_hooks=dict(checkpoint=None, logger=None),
        env_cfg=dict(dist_cfg=dict(backend='gloo')),
        default_scope=None)
    pool = runner.model.pool
    dense_w = pool.rnn1.W.detach().clone()
    runner.train()
    assert not torch.equal(pool.rnn1.W, dense_w)  # it trained
    assert _nonzero_fraction(pool.rnn1.W) == pytest.approx(0.5, abs=0.05)
    for weight in (pool.rnn1.U, pool.rnn2.W, pool.rnn2.U):
        assert _nonzero_fraction(weight) == pytest.approx(0.3, abs=0.02)
