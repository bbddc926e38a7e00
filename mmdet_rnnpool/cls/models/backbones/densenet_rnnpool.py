"""DenseNet121-RNNPool (the RNNPool paper's Tables 1, 2 and 9) on MMPretrain's DenseNet."""
from typing import Optional

import torch.nn as nn
from mmpretrain.models.backbones import DenseNet
from mmpretrain.models.backbones.densenet import DenseTransition
from mmpretrain.registry import MODELS

from ..utils import EarlyDownsample, TransitionDownsample


@MODELS.register_module()
class DenseNetRNNPool(DenseNet):
    """DenseNet with RNNPool in place of its first blocks and, optionally, of its pools.

    Built as MMPretrain's ``DenseNet`` and then changed: the first conv becomes a 3x3 stride-2
    conv (the paper: "a 3x3 stride-2 conv, then one RNNPoolLayer"), and the max pool P1, dense
    block D1, transition T1 and dense block D2 give way to ``downsample``
    (Table 9: RNNPool, patch 8, stride 4, ``h1 = h2 = 48``: 112 x 112 x 64 -> 28 x 28 x 192),
    whose output goes to T2, rebuilt to take it (T2 still gives D3 the channels it had)::

        stem conv -> downsample -> T2 -> D3 -> T3 -> D4 -> norm + act

    With ``transition_pool`` the 2x2 average pools of the kept transitions are replaced too
    (Section 5.2: RNNPool, patch 4, stride 2, ``h1 = h2 = k / 4`` for a ``k``-channel
    transition output); pair it with :class:`~mmdet_rnnpool.cls.models.necks.RNNPoolNeck` for
    the final pool. ``arch`` may drop dense layers (the paper's variant with 14 fewer in D3 and
    10 fewer in D4: ``depths=(6, 12, 10, 6)``).

    ``out_indices`` refers to the kept stages (0 = D3, 1 = D4); defaults to the last.

    Args:
        arch (str | dict): DenseNet arch. Defaults to ``'121'``.
        downsample (dict): The early layer (see
            :class:`~mmdet_rnnpool.cls.models.utils.EarlyDownsample`). Defaults to Table 9's.
        stem_kernel_size (int, optional): Kernel of the first conv; None keeps DenseNet's 7.
            Defaults to 3.
        transition_pool (dict, optional): Layer config for the kept transitions' pools, its
            ``hidden_channels`` set to ``k / 4`` unless given; None keeps average pooling.
            Defaults to None.
        **kwargs: ``DenseNet``'s other arguments.
    """

    #: Stages replaced by the early layer (D1, D2 with T1 between them).
    num_replaced = 2

    def __init__(self,
                 arch='121',
                 downsample: dict = dict(
                     type='RNNPool', hidden_channels=48, kernel_size=8, stride=4),
                 stem_kernel_size: Optional[int] = 3,
                 transition_pool: Optional[dict] = None,
                 out_indices=-1,
                 norm_cfg=dict(type='BN'),
                 act_cfg=dict(type='ReLU'),
                 **kwargs) -> None:
        if kwargs.get('frozen_stages', 0) != 0:
            raise ValueError('DenseNetRNNPool: frozen_stages is not supported')
        super().__init__(arch=arch, out_indices=[-1], norm_cfg=norm_cfg, act_cfg=act_cfg,
                         **kwargs)
        if self.num_stages <= self.num_replaced + 1:
            raise ValueError(f'DenseNetRNNPool: needs more than {self.num_replaced + 1} '
                             f'stages, arch has {self.num_stages}')
        self.stem = self.stem[:3]  # conv, norm, act; P1 is replaced
        if stem_kernel_size is not None:
            conv = self.stem[0]
            self.stem[0] = nn.Conv2d(conv.in_channels, conv.out_channels, stem_kernel_size,
                                     stride=2, padding=stem_kernel_size // 2, bias=False)
        self.downsample = EarlyDownsample(self.stem[0].out_channels, downsample)
        first = self.transitions[self.num_replaced - 1]
        self.transitions[self.num_replaced - 1] = DenseTransition(
            self.downsample.out_channels, first.conv.out_channels, norm_cfg=norm_cfg,
            act_cfg=act_cfg)
        kept = range(self.num_replaced, self.num_stages)
        self.stages = nn.ModuleList([self.stages[i] for i in kept])
        self.transitions = nn.ModuleList([self.transitions[i - 1] for i in kept] +
                                         [self.transitions[-1]])
        # transitions[i] runs before stages[i] (T2 before D3, T3 before D4); the last one is the
        # final norm + act.
        if transition_pool is not None:
            for transition in self.transitions[:-1]:  # T2, T3
                channels = transition.conv.out_channels
                cfg = dict(transition_pool)
                cfg.setdefault('hidden_channels', channels // 4)
                transition.pool = TransitionDownsample(channels, cfg)
        self.num_stages = len(self.stages)
        indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        self.out_indices = [i % self.num_stages if i < 0 else i for i in indices]
        for index in self.out_indices:
            if index not in range(self.num_stages):
                raise ValueError(f'DenseNetRNNPool: out_indices must be in range(0, '
                                 f'{self.num_stages}) (the kept stages), got {index}')

    def forward(self, x):
        x = self.transitions[0](self.downsample(self.stem(x)))
        outs = []
        for i, stage in enumerate(self.stages):
            x = self.transitions[i + 1](stage(x))
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
