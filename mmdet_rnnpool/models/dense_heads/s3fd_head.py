"""S3FD head: SSD's head with square anchors and the "max-out background label".

Zhang et al., `S3FD: Single Shot Scale-invariant Face Detector
<https://arxiv.org/abs/1708.05237>`_, ICCV 2017, as the RNNPool face detectors use it.
"""
import copy
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.models.dense_heads import SSDHead
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, MultiConfig, OptConfigType
from torch import Tensor

# The default anchor generator must be registered whenever the head is.
from ..task_modules.prior_generators import CellCenteredAnchorGenerator  # noqa: F401


def max_out_background(cls_score: Tensor, num_classes: int, num_max_out: int,
                       num_anchors: int = 1) -> Tensor:
    """Reduce ``num_max_out`` background scores per anchor to one by a channel max.

    Args:
        cls_score (Tensor): ``(N, A * (num_classes + num_max_out), H, W)``; per anchor the
            channels are ``[class scores..., background scores...]``.
        num_classes (int): Number of foreground classes.
        num_max_out (int): Number of background scores per anchor.
        num_anchors (int): Anchors per location ``A``. Defaults to 1.

    Returns:
        Tensor: ``(N, A * (num_classes + 1), H, W)``, background last per anchor (mmdet's
        convention).
    """
    batch, channels, height, width = cls_score.shape
    per_anchor = num_classes + num_max_out
    if channels != num_anchors * per_anchor:
        raise ValueError(f'max-out expects {num_anchors} x ({num_classes} + {num_max_out}) '
                         f'channels, got {channels}')
    score = cls_score.view(batch, num_anchors, per_anchor, height, width)
    background = score[:, :, num_classes:].max(dim=2, keepdim=True)[0]
    score = torch.cat([score[:, :, :num_classes], background], dim=2)
    return score.view(batch, num_anchors * (num_classes + 1), height, width)


@MODELS.register_module()
class S3FDHead(SSDHead):
    """S3FD detection head: SSD head + "max-out background label" on chosen levels.

    Per level, a class branch and a box branch, each ``branch_convs[level]`` (conv + BN +
    activation, none by default) followed by a ``kernel_sizes[level]`` conv to the class scores
    / box deltas ("same" padding). With the defaults (no branch convs, 3x3) these are exactly
    SSDHead's layers. The authors' release uses kernels 5, 5, 5, 1, 1, 3 on Face-C's levels,
    and for Face-Quant's first level a strided 3x3 conv + BN + ReLU from 4 to 8 channels in
    each branch, which takes the stride-2 source to the anchors' stride 4. On the levels in
    ``max_out_levels`` the class conv predicts ``num_max_out``
    background scores per anchor instead of one; :meth:`forward` keeps their maximum, so the
    scores the loss and the post-processing see have mmdet's layout (``num_classes + 1`` per
    anchor, background last). S3FD applies this to the stride-4 level, where small anchors
    make most of the (easy) negatives.

    Anchor matching, 3:1 hard negative mining, cross-entropy and smooth-L1 are SSDHead's
    (``train_cfg``: ``assigner`` = :class:`S3FDAssigner`, ``neg_pos_ratio=3``).

    ``forward_layers`` returns the raw conv outputs (before the max-out): what an exporter runs
    on the device; ``max_out`` turns them into ``forward``'s output.

    Args:
        num_classes (int): Number of foreground classes. Defaults to 1 (face).
        in_channels (Sequence[int]): Channels of each input level.
            Defaults to (24, 32, 64, 96, 160, 320).
        num_max_out (int): Background scores per anchor on the max-out levels.
            Defaults to 3.
        max_out_levels (Sequence[int]): Levels with the max-out background. Defaults to (0,).
        kernel_sizes (int | Sequence[int]): Kernel size of the last class / box conv, one for
            every level or one per level; odd. Defaults to 3.
        branch_convs (Sequence[dict | list[dict] | None], optional): Per level, convs (each
            ``dict(out_channels, kernel_size=3, stride=1)``, conv + ``norm_cfg`` +
            ``act_cfg``) that the class branch and the box branch each run before their last
            conv (separate weights); ``None`` for none. Defaults to None (none anywhere).
        norm_cfg (dict): Norm layer of the branch convs. Defaults to ``dict(type='BN')``.
        act_cfg (dict): Activation of the branch convs. Defaults to ``dict(type='ReLU6')``.
        anchor_generator (dict): Anchor generator config. Defaults to one square anchor of
            size 16, 32, ..., 512 at strides 4, 8, ..., 128, centred on its cell at
            ``(j + 0.5) * stride`` (:class:`CellCenteredAnchorGenerator`).
        bbox_coder (dict): Box coder config. Defaults to DeltaXYWHBBoxCoder with S3FD's
            variances (0.1, 0.1, 0.2, 0.2).
        train_cfg (dict, optional): Training config (assigner, neg_pos_ratio, smoothl1_beta,
            allowed_border, pos_weight). Defaults to None.
        test_cfg (dict, optional): Test config (nms_pre, score_thr, nms, max_per_img).
            Defaults to None.
        init_cfg (dict or list[dict]): Initialization config. Defaults to Xavier uniform.
        **kwargs: Other SSDHead arguments (``reg_decoded_bbox``; SSDHead's ``stacked_convs``
            / ``use_depthwise`` towers only with the default kernels and no branch convs).
    """

    def __init__(self,
                 num_classes: int = 1,
                 in_channels: Sequence[int] = (24, 32, 64, 96, 160, 320),
                 num_max_out: int = 3,
                 max_out_levels: Sequence[int] = (0, ),
                 kernel_sizes: Union[int, Sequence[int]] = 3,
                 branch_convs: Optional[Sequence[Union[dict, List[dict], None]]] = None,
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='ReLU6'),
                 anchor_generator: ConfigType = dict(
                     type='CellCenteredAnchorGenerator',
                     strides=[4, 8, 16, 32, 64, 128],
                     base_sizes=[16, 32, 64, 128, 256, 512],
                     ratios=[1.0],
                     scales=[1.0]),
                 bbox_coder: ConfigType = dict(
                     type='DeltaXYWHBBoxCoder',
                     clip_border=True,
                     target_means=[0., 0., 0., 0.],
                     target_stds=[0.1, 0.1, 0.2, 0.2]),
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 init_cfg: MultiConfig = dict(
                     type='Xavier', layer='Conv2d', distribution='uniform', bias=0),
                 **kwargs) -> None:
        if isinstance(num_max_out, bool) or not isinstance(num_max_out, int) or num_max_out < 1:
            raise ValueError(f'bbox_head.num_max_out must be a positive int, got {num_max_out!r}')
        self.num_max_out = num_max_out
        self.max_out_levels = tuple(max_out_levels)
        num_levels = len(in_channels)
        for level in self.max_out_levels:
            if not 0 <= level < num_levels:
                raise ValueError(f'bbox_head.max_out_levels: level {level} is not in '
                                 f'[0, {num_levels})')
        self.kernel_sizes = self._check_kernel_sizes(kernel_sizes, num_levels)
        self.branch_convs = self._check_branch_convs(branch_convs, num_levels)
        super().__init__(
            num_classes=num_classes,
            in_channels=in_channels,
            norm_cfg=copy.deepcopy(norm_cfg),
            act_cfg=copy.deepcopy(act_cfg),
            anchor_generator=anchor_generator,
            bbox_coder=bbox_coder,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            init_cfg=init_cfg,
            **kwargs)
        if self.prior_generator.num_levels != num_levels:
            raise ValueError(f'bbox_head: {num_levels} in_channels but the anchor generator '
                             f'has {self.prior_generator.num_levels} levels')

    @staticmethod
    def _check_kernel_sizes(kernel_sizes, num_levels: int) -> Tuple[int, ...]:
        if isinstance(kernel_sizes, int) and not isinstance(kernel_sizes, bool):
            kernel_sizes = (kernel_sizes, ) * num_levels
        kernel_sizes = tuple(kernel_sizes)
        if len(kernel_sizes) != num_levels:
            raise ValueError(f'bbox_head.kernel_sizes has {len(kernel_sizes)} entries for '
                             f'{num_levels} levels')
        for level, k in enumerate(kernel_sizes):
            if isinstance(k, bool) or not isinstance(k, int) or k < 1 or k % 2 == 0:
                raise ValueError(f'bbox_head.kernel_sizes[{level}] must be an odd positive int '
                                 f'(same padding), got {k!r}')
        return kernel_sizes

    @staticmethod
    def _check_branch_convs(branch_convs, num_levels: int) -> Tuple[Tuple[dict, ...], ...]:
        if branch_convs is None:
            return ((), ) * num_levels
        if len(branch_convs) != num_levels:
            raise ValueError(f'bbox_head.branch_convs has {len(branch_convs)} entries for '
                             f'{num_levels} levels')
        checked = []
        for level, convs in enumerate(branch_convs):
            if isinstance(convs, dict):
                convs = [convs]
            level_convs = []
            for j, cfg in enumerate(convs or []):
                where = f'bbox_head.branch_convs[{level}][{j}]'
                if not isinstance(cfg, dict) or 'out_channels' not in cfg or \
                        set(cfg) - {'out_channels', 'kernel_size', 'stride'}:
                    raise ValueError(f'{where} must be a dict(out_channels[, kernel_size, '
                                     f'stride]), got {cfg!r}')
                cfg = {**dict(kernel_size=3, stride=1), **cfg}
                for key, value in cfg.items():
                    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                        raise ValueError(f'{where}.{key} must be a positive int, got {value!r}')
                level_convs.append(cfg)
            checked.append(tuple(level_convs))
        return tuple(checked)

    def _init_layers(self) -> None:
        """Per level: branch convs + the last conv, for the class and the box branches;
        ``num_max_out`` background channels on the max-out levels."""
        custom = any(self.branch_convs) or any(k != 3 for k in self.kernel_sizes)
        if self.stacked_convs or self.use_depthwise:
            if custom:
                raise ValueError('bbox_head: stacked_convs / use_depthwise cannot be combined '
                                 'with branch_convs or kernel_sizes other than 3')
            super()._init_layers()
            for level in self.max_out_levels:
                old = self.cls_convs[level][-1]
                self.cls_convs[level][-1] = nn.Conv2d(
                    old.in_channels, self._cls_channels(level), kernel_size=old.kernel_size,
                    padding=old.padding)
            return
        self.cls_convs = nn.ModuleList()
        self.reg_convs = nn.ModuleList()
        for level, channels in enumerate(self.in_channels):
            branches = []
            for out_channels in (self._cls_channels(level), self.num_base_priors[level] * 4):
                layers, in_channels = [], channels
                for cfg in self.branch_convs[level]:
                    layers.append(
                        ConvModule(
                            in_channels,
                            cfg['out_channels'],
                            cfg['kernel_size'],
                            stride=cfg['stride'],
                            padding=cfg['kernel_size'] // 2,
                            conv_cfg=self.conv_cfg,
                            norm_cfg=self.norm_cfg,
                            act_cfg=self.act_cfg))
                    in_channels = cfg['out_channels']
                kernel_size = self.kernel_sizes[level]
                layers.append(
                    nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2))
                branches.append(nn.Sequential(*layers))
            self.cls_convs.append(branches[0])
            self.reg_convs.append(branches[1])

    def _cls_channels(self, level: int) -> int:
        per_anchor = self.num_classes + (
            self.num_max_out if level in self.max_out_levels else 1)
        return self.num_base_priors[level] * per_anchor

    def forward_layers(self, x: Tuple[Tensor, ...]) -> Tuple[List[Tensor], List[Tensor]]:
        """Raw conv outputs, before the max-out (the layers-only forward for exporters).

        Args:
            x (tuple[Tensor]): One feature map per level.

        Returns:
            tuple[list[Tensor], list[Tensor]]: Raw class scores (``A * (num_classes +
            num_max_out)`` channels on max-out levels, ``A * (num_classes + 1)`` elsewhere)
            and box deltas (``A * 4`` channels) per level.
        """
        if len(x) != len(self.cls_convs):
            raise ValueError(f'S3FDHead expects {len(self.cls_convs)} feature maps, '
                             f'got {len(x)}')
        return super().forward(x)

    def max_out(self, cls_scores: Sequence[Tensor]) -> List[Tensor]:
        """Apply the max-out background to the raw class scores of ``forward_layers``."""
        return [
            max_out_background(score, self.num_classes, self.num_max_out,
                               self.num_base_priors[level])
            if level in self.max_out_levels else score
            for level, score in enumerate(cls_scores)
        ]

    def forward(self, x: Tuple[Tensor, ...]) -> Tuple[List[Tensor], List[Tensor]]:
        """Class scores (max-out applied; ``A * (num_classes + 1)`` channels, background last
        per anchor) and box deltas (``A * 4`` channels) per level."""
        cls_scores, bbox_preds = self.forward_layers(x)
        return self.max_out(cls_scores), bbox_preds
