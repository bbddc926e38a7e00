"""The face configs keep the best checkpoint by the WIDER hard AP (MMEngine's CheckpointHook,
configured as in configs/_base_/default_runtime.py), on a toy runner with scripted AP values."""
import os
import os.path as osp
import sys

import pytest
from mmengine.config import Config
from mmengine.evaluator import BaseMetric
from mmengine.registry import METRICS

sys.path.insert(0, osp.join(osp.dirname(__file__), '..', 'test_utils'))
from toy_runner import ToyDataset, ToyModel  # noqa: E402

ROOT = osp.join(osp.dirname(__file__), '..', '..')
FACE_C = osp.join(ROOT, 'configs', 'rnnpool_face', 'rnnpool-face-c_1xb32-300e_widerface.py')
HARD_AP_PER_EPOCH = [0.30, 0.52, 0.41]  # the best is epoch 2


@METRICS.register_module(force=True)
class ScriptedWiderHardAP(BaseMetric):
    """Reports the next scripted 'hard' AP, under the WIDER metric's prefix."""
    default_prefix = 'widerface'
    calls = 0

    def process(self, data_batch, data_samples):
        self.results.append(0)

    def compute_metrics(self, results):
        value = HARD_AP_PER_EPOCH[type(self).calls]
        type(self).calls += 1
        return dict(easy=0.9, medium=0.8, hard=value)


def test_face_config_keeps_best_by_hard_ap(tmp_path):
    from mmengine.runner import Runner
    checkpoint = Config.fromfile(FACE_C).default_hooks.checkpoint
    assert checkpoint.save_best == 'widerface/hard' and checkpoint.rule == 'greater'
    ScriptedWiderHardAP.calls = 0
    loader = dict(dataset=ToyDataset(), sampler=dict(type='DefaultSampler', shuffle=False),
                  batch_size=4, collate_fn=dict(type='default_collate'))
    runner = Runner(
        model=ToyModel(), work_dir=str(tmp_path), train_dataloader=loader,
        val_dataloader=loader, val_evaluator=dict(type='ScriptedWiderHardAP'),
        val_cfg=dict(), optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=len(HARD_AP_PER_EPOCH), val_interval=1),
        default_hooks=dict(checkpoint=checkpoint.to_dict()), default_scope='mmengine')
    runner.train()
    best = sorted(f for f in os.listdir(tmp_path) if f.startswith('best_'))
    assert best == ['best_widerface_hard_epoch_2.pth']
    assert runner.message_hub.get_info('best_score') == pytest.approx(0.52)
