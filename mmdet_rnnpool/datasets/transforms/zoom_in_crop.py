"""S3FD's zoom-in random crop (Zhang et al., "S3FD: Single Shot Scale-invariant Face
Detector", ICCV 2017, https://arxiv.org/abs/1708.05237)."""
from typing import Sequence, Tuple, Union

import numpy as np
from mmdet.registry import TRANSFORMS

from .window_crop import BaseWindowCrop
from .window_ops import Window, sample_zoom_in_window


@TRANSFORMS.register_module()
class ZoomInRandomCrop(BaseWindowCrop):
    """Crop a random patch, ``min_scale..1`` of the largest patch of the output's aspect, and
    resize it to ``crop_size``, enlarging small faces (S3FD's "zoom in").

    The patch must hold at least one face that is not ignored wholly (the release's rule;
    images without such a face take any patch); after ``max_trials`` failures the whole image is used,
    padded to the output's aspect. See :class:`BaseWindowCrop` for the keys and box rules.

    Args:
        crop_size (int | tuple[int, int]): Output ``(width, height)``. Defaults to 640.
        min_scale (float): Smallest patch side, relative to the image's short side (for a
            square output). Defaults to 0.3.
        full_prob (float): Probability of taking the largest patch (S3FD samples it as one
            of five candidates). Defaults to 0.2.
        max_trials (int): Sampling attempts. Defaults to 50.
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
                 min_scale: float = 0.3,
                 full_prob: float = 0.2,
                 max_trials: int = 50,
                 pad_val: Union[float, Sequence[float]] = (104, 117, 123),
                 min_gt_size: float = 1.0,
                 min_gt_area: float = 36.0,
                 random_interpolation: bool = True) -> None:
        super().__init__(crop_size=crop_size, pad_val=pad_val, min_gt_size=min_gt_size,
                         min_gt_area=min_gt_area, random_interpolation=random_interpolation)
        if not 0 < min_scale <= 1:
            raise ValueError(f'ZoomInRandomCrop.min_scale must be in (0, 1], got {min_scale}')
        if not 0 <= full_prob <= 1:
            raise ValueError(f'ZoomInRandomCrop.full_prob must be in [0, 1], got {full_prob}')
        if max_trials < 1:
            raise ValueError(f'ZoomInRandomCrop.max_trials must be >= 1, got {max_trials}')
        self.min_scale = float(min_scale)
        self.full_prob = float(full_prob)
        self.max_trials = int(max_trials)

    def sample_window(self, img_w: int, img_h: int, boxes: np.ndarray,
                      valid: np.ndarray) -> Window:
        return sample_zoom_in_window(np.random, img_w, img_h, boxes, valid, self.crop_size,
                                     self.min_scale, self.full_prob, self.max_trials)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(crop_size={self.crop_size}, '
                f'min_scale={self.min_scale}, full_prob={self.full_prob}, '
                f'max_trials={self.max_trials}, pad_val={self.pad_val}, '
                f'min_gt_size={self.min_gt_size}, min_gt_area={self.min_gt_area}, '
                f'random_interpolation={self.random_interpolation})')
