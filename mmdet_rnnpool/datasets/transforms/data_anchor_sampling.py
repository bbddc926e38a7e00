"""Data-anchor-sampling (Tang et al., "PyramidBox: A Context-assisted Single Shot Face
Detector", ECCV 2018, https://arxiv.org/abs/1803.07737)."""
from typing import Sequence, Tuple, Union

import numpy as np
from mmdet.registry import TRANSFORMS

from .window_crop import BaseWindowCrop
from .window_ops import Window, sample_anchor_window


@TRANSFORMS.register_module()
class DataAnchorSampling(BaseWindowCrop):
    """Rescale the image so that a random face takes the size of a random anchor, then crop
    ``crop_size`` around that face.

    The target anchor index is drawn uniformly from ``0..min(last, nearest + 1)`` where
    ``nearest`` is the anchor closest to the face size ``sqrt(w * h)``, and the target size is
    ``anchor * 2 ** u``, ``u`` uniform in [-1, 1] (the release's jitter). Only faces that are not ignored are chosen;
    without one the whole image is used, padded to the output's aspect. See
    :class:`BaseWindowCrop` for the keys and box rules.

    Args:
        crop_size (int | tuple[int, int]): Output ``(width, height)``. Defaults to 640.
        anchor_sizes (Sequence[float]): The detector's anchor sizes. Defaults to
            (16, 32, 64, 128, 256, 512), S3FD's.
        pad_val (float | Sequence[float]): Fill value. Defaults to (104, 117, 123).
        min_gt_size (float): Faces below this many output pixels become ignored.
            Defaults to 1.0.
        min_gt_area (float): Faces of this area (output px^2) or less are dropped.
            Defaults to 36 (the release's 6 x 6 px).
        random_interpolation (bool): Resize with a random interpolation (the release's).
            Defaults to True.
    """

    def __init__(self,
                 crop_size: Union[int, Tuple[int, int]] = 640,
                 anchor_sizes: Sequence[float] = (16, 32, 64, 128, 256, 512),
                 pad_val: Union[float, Sequence[float]] = (104, 117, 123),
                 min_gt_size: float = 1.0,
                 min_gt_area: float = 36.0,
                 random_interpolation: bool = True) -> None:
        super().__init__(crop_size=crop_size, pad_val=pad_val, min_gt_size=min_gt_size,
                         min_gt_area=min_gt_area, random_interpolation=random_interpolation)
        anchors = [float(a) for a in anchor_sizes]
        if not anchors or min(anchors) <= 0 or anchors != sorted(anchors):
            raise ValueError('DataAnchorSampling.anchor_sizes must be positive and ascending, '
                             f'got {anchor_sizes!r}')
        self.anchor_sizes = tuple(anchors)

    def sample_window(self, img_w: int, img_h: int, boxes: np.ndarray,
                      valid: np.ndarray) -> Window:
        return sample_anchor_window(np.random, img_w, img_h, boxes, valid, self.crop_size,
                                    self.anchor_sizes)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(crop_size={self.crop_size}, '
                f'anchor_sizes={self.anchor_sizes}, pad_val={self.pad_val}, '
                f'min_gt_size={self.min_gt_size}, min_gt_area={self.min_gt_area}, '
                f'random_interpolation={self.random_interpolation})')
