"""A minimal MMEngine Runner set-up, importable WITHOUT mmdet_rnnpool (the compat tests compare
runs with and without its fixes)."""
import torch
import torch.nn as nn
from mmengine.model import BaseModel


class ToyModel(BaseModel):
    """The smallest model an MMEngine Runner trains: a data batch in, a loss dict out."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='loss'):
        out = self.linear(inputs).squeeze(-1)
        if mode == 'loss':
            return dict(loss=((out - labels) ** 2).mean())
        return out


class ToyDataset(torch.utils.data.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, index):
        x = torch.tensor([float(index), 1.0])
        return dict(inputs=x, labels=x.sum())


def make_runner(work_dir, max_epochs, resume, launcher='none'):
    from mmengine.runner import Runner
    return Runner(
        model=ToyModel(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=ToyDataset(), sampler=dict(type='DefaultSampler'),
                              batch_size=4, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1),
                           logger=dict(type='LoggerHook', interval=1)),
        resume=resume, launcher=launcher, default_scope='mmengine')
