"""AtomicCheckpointHook: a save interrupted half way (here an exception in the middle of the
write, in-process; tests/test_tools/test_train_test.py SIGKILLs a real training run) leaves
the previous checkpoint complete and named by last_checkpoint, and a resumed run cleans up."""
import os
import sys

import pytest
import torch
from mmengine.fileio.backends import LocalBackend

import mmdet_rnnpool  # noqa: F401  (registers the hook)
from mmdet_rnnpool.utils.checkpoint import read_checkpoint

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), 'test_utils'))
from toy_runner import ToyDataset, ToyModel  # noqa: E402


class Crash(Exception):
    """Stands for the process dying in the middle of a write."""


def make_runner(work_dir, max_epochs, resume, hook_type):
    from mmengine.runner import Runner
    return Runner(
        model=ToyModel(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=ToyDataset(), sampler=dict(type='DefaultSampler'),
                              batch_size=4, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type=hook_type, interval=1, max_keep_ckpts=1),
                           logger=dict(type='LoggerHook', interval=1)),
        resume=resume, default_scope='mmengine')


def crash_on_write(monkeypatch, at):
    """The ``at``-th checkpoint write puts half its bytes on disk, then the process 'dies'."""
    put, count = LocalBackend.put, [0]

    def half_then_crash(self, obj, filepath):
        count[0] += 1
        if count[0] == at:
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
            raise Crash(filepath)
        return put(self, obj, filepath)

    monkeypatch.setattr(LocalBackend, 'put', half_then_crash)


@pytest.mark.parametrize('hook_type', ['AtomicCheckpointHook', 'CheckpointHook'])
def test_crash_during_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch, hook_type):
    crash_on_write(monkeypatch, at=2)
    with pytest.raises(Crash):
        make_runner(tmp_path, 3, False, hook_type).train()
    latest = (tmp_path / 'last_checkpoint').read_text().strip()
    if hook_type == 'CheckpointHook':  # MMEngine's: the old one deleted first, nothing left
        assert not os.path.isfile(latest)
        with pytest.raises(ValueError, match='unreadable'):
            read_checkpoint(str(tmp_path / 'epoch_2.pth'))
        return
    assert latest.endswith('epoch_1.pth') and read_checkpoint(latest)['meta']['epoch'] == 1
    assert not (tmp_path / 'epoch_2.pth').exists()
    assert (tmp_path / '.epoch_2.pth.partial').exists()

    monkeypatch.undo()
    runner = make_runner(tmp_path, 3, True, hook_type)
    runner.train()
    assert runner.epoch == 3
    assert sorted(p for p in os.listdir(tmp_path) if p.endswith(('.pth', '.partial'))) == \
        ['epoch_3.pth']
    assert (tmp_path / 'last_checkpoint').read_text().strip().endswith('epoch_3.pth')


def test_checkpoint_contents_unchanged(tmp_path):
    """The renamed file is what MMEngine writes: it resumes, and keeps its bookkeeping."""
    make_runner(tmp_path, 2, False, 'AtomicCheckpointHook').train()
    checkpoint = torch.load(str(tmp_path / 'epoch_2.pth'), map_location='cpu',
                            weights_only=True)
    assert checkpoint['meta']['epoch'] == 2
    assert checkpoint['message_hub']['runtime_info']['keep_ckpt_ids'] == [2]
    assert checkpoint['message_hub']['runtime_info']['last_ckpt'].endswith('epoch_2.pth')
