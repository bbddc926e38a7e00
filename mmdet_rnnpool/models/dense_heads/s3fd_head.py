"""S3FD head: SSD's head with square anchors and the "max-out background label".

Zhang et al., `S3FD: Single Shot Scale-invariant Face Detector
<https://arxiv.org/abs/1708.05237>`_, ICCV 2017, as the RNNPool face detectors use it.
"""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
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

    The layers are SSDHead's: per level a 3x3 conv to the class scores and one to the box
    deltas. On the levels in ``max_out_levels`` the class conv predicts ``num_max_out``
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
        **kwargs: Other SSDHead arguments (``stacked_convs``, ``use_depthwise``, ...).
    """

    def __init__(self,
                 num_classes: int = 1,
                 in_channels: Sequence[int] = (24, 32, 64, 96, 160, 320),
                 num_max_out: int = 3,
                 max_out_levels: Sequence[int] = (0, ),
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
        super().__init__(
            num_classes=num_classes,
            in_channels=in_channels,
            anchor_generator=anchor_generator,
            bbox_coder=bbox_coder,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            init_cfg=init_cfg,
            **kwargs)
        if self.prior_generator.num_levels != num_levels:
            raise ValueError(f'bbox_head: {num_levels} in_channels but the anchor generator '
                             f'has {self.prior_generator.num_levels} levels')

    def _init_layers(self) -> None:
        """SSDHead's layers, with ``num_max_out`` background channels on the max-out levels."""
        super()._init_layers()
        for level in self.max_out_levels:
            old = self.cls_convs[level][-1]
            self.cls_convs[level][-1] = nn.Conv2d(
                old.in_channels,
                self.num_base_priors[level] * (self.num_classes + self.num_max_out),
                kernel_size=old.kernel_size,
                padding=old.padding)

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
