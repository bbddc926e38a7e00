"""Checkpoint reading and fitting (mmdet_rnnpool.utils.checkpoint), shared by every tool."""
import os

import pytest
import torch
import torch.nn as nn

from mmdet_rnnpool.utils.checkpoint import (CheckpointError, check_checkpoint_fits, check_fit,
                                            describe_fit, load_checkpoint_checked,
                                            read_checkpoint)


class Net(nn.Module):
    def __init__(self, hidden=4):
        super().__init__()
        self.conv = nn.Conv2d(3, hidden, 3)
        self.bn = nn.BatchNorm2d(hidden)
        self.head = nn.Linear(hidden, 2)


class RunsCode:
    def __reduce__(self):
        return os.system, ('true', )


def test_fit_counts_and_names_the_first_keys():
    own = Net().state_dict()
    other = {k: v for k, v in own.items() if not k.startswith('bn.')}
    other['conv.weight'] = torch.zeros(8, 3, 3, 3)
    other.update({f'extra.{i}': torch.zeros(1) for i in range(5)})
    fit = check_fit(Net(), other)
    assert not fit.ok
    assert fit.missing == ['bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var',
                           'bn.num_batches_tracked']
    assert fit.mis_shaped == [('conv.weight', '8x3x3x3', '4x3x3x3')]
    line = fit.describe()
    assert '\n' not in line
    assert line.startswith(f'{fit.total - 6} of {fit.total} model weights fit')
    assert '5 missing (bn.weight, bn.bias, bn.running_mean, ... 2 more)' in line
    assert '5 unexpected (extra.0, extra.1, extra.2, ... 2 more)' in line
    assert '1 mis-shaped (conv.weight: checkpoint 8x3x3x3, model 4x3x3x3)' in line
    assert check_fit(Net(), own).ok


def test_refuse_or_load_what_fits(tmp_path):
    path = str(tmp_path / 'other.pth')
    source = Net(hidden=8)
    torch.save({'state_dict': source.state_dict(), 'meta': {}}, path)
    model = Net()
    before = model.head.bias.detach().clone()
    with pytest.raises(CheckpointError, match=r'other\.pth does not fit the model: .* '
                       r'mis-shaped .* --allow-partial-checkpoint'):
        load_checkpoint_checked(model, path)
    assert torch.equal(model.head.bias, before)  # nothing loaded
    with pytest.warns(UserWarning, match='loading what fits'):
        load_checkpoint_checked(model, path, allow_partial=True)
    assert torch.equal(model.head.bias, source.head.bias)  # same shape: loaded
    assert 'mis-shaped' in describe_fit(model, path)


def test_exact_checkpoints_load(tmp_path):
    source = Net()
    plain, wrapped = str(tmp_path / 'plain.pth'), str(tmp_path / 'wrapped.pth')
    torch.save(source.state_dict(), plain)  # a bare state dict
    torch.save({'state_dict': {f'module.{k}': v for k, v in source.state_dict().items()}},
               wrapped)  # saved from DataParallel
    for path in (plain, wrapped):
        model = Net()
        load_checkpoint_checked(model, path)
        assert torch.equal(model.conv.weight, source.conv.weight)
        assert check_checkpoint_fits(model, path).ok


def test_unreadable_files_are_one_line(tmp_path):
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': Net().state_dict()}, good)
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(good.read_bytes()[:1000])
    code = tmp_path / 'code.pth'
    torch.save({'state_dict': Net().state_dict(), 'x': RunsCode()}, code)
    text = tmp_path / 'notes.pth'
    text.write_text('not a checkpoint')
    cases = [(truncated, 'unreadable'), (code, 'pickled code'), (text, 'unreadable')]
    for path, reason in cases:
        with pytest.raises(CheckpointError) as info:
            read_checkpoint(str(path))
        message = str(info.value)
        assert str(path) in message and reason in message and '\n' not in message
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        read_checkpoint(str(tmp_path / 'missing.pth'))
    torch.save({'state_dict': {'a': 1}}, tmp_path / 'odd.pth')
    with pytest.raises(CheckpointError, match='not a dict of tensors'):
        read_checkpoint(str(tmp_path / 'odd.pth'))
