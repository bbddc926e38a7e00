"""Anchors centred on their feature cells: ``((j + 0.5) * stride, (i + 0.5) * stride)``."""
from mmdet.models.task_modules.prior_generators import AnchorGenerator
from mmdet.registry import TASK_UTILS


@TASK_UTILS.register_module()
class CellCenteredAnchorGenerator(AnchorGenerator):
    """mmdet's :class:`AnchorGenerator` with every level's anchors centred on their cells.

    The anchor of feature cell ``(i, j)`` of a level with stride ``s`` is centred at
    ``((j + 0.5) * s, (i + 0.5) * s)``, as in S3FD and the RNNPool release (and mmdet's own
    ``SSDAnchorGenerator``). mmdet's ``center_offset`` cannot express this: it places the centre
    at ``j * s + center_offset * base_size``, which for S3FD's anchors (``base_size = 4 * s``)
    is 1.5 strides off the cell centre with ``center_offset=0.5``. mmdet's explicit ``centers``
    argument can, but it repeats the strides (``centers=[(2, 2), (4, 4), ...]``), so a config
    that changes the strides (Face-M4, ``--cfg-options``) would silently leave the centres
    behind. Here they are derived from ``strides``; ``centers`` and ``center_offset`` are not
    accepted.

    Args:
        strides (list[int] | list[tuple[int, int]]): Anchor strides per level, ``(w, h)``.
        **kwargs: Other :class:`AnchorGenerator` arguments (``ratios``, ``scales``,
            ``base_sizes``, ...).
    """

    def __init__(self, strides, **kwargs) -> None:
        for key in ('centers', 'center_offset'):
            if key in kwargs:
                raise ValueError(f'CellCenteredAnchorGenerator: {key!r} is not an argument '
                                 '(the centres follow from the strides: (j + 0.5) * stride)')
        strides = [stride if isinstance(stride, (tuple, list)) else (stride, stride)
                   for stride in strides]
        centers = [(stride[0] / 2, stride[1] / 2) for stride in strides]
        super().__init__(strides=strides, centers=centers, center_offset=0., **kwargs)
