"""The shared part of the S3FD crops: map a sampled window of the image onto a fixed output
size and keep the boxes, labels and ignore flags consistent."""
from typing import Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform

from .window_ops import (RANDOM_INTERPOLATIONS, Window, box_centers_inside,
                         crop_resize_window, map_boxes)


def to_size_pair(size: Union[int, Sequence[int]], name: str) -> Tuple[int, int]:
    """Return ``(width, height)`` from an int or a pair, checking it is positive."""
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise ValueError(f'{name} must be a positive int or (width, height), got {size!r}')
    return pair


class BaseWindowCrop(BaseTransform):
    """Crop a sampled window of the image and resize it to ``crop_size``.

    Subclasses implement :meth:`sample_window`. Boxes whose centre lies in the window are
    kept (clipped to it), together with their labels and ignore flags; the others are
    removed. Kept faces whose clipped area in the output is ``min_gt_area`` px^2 or less are
    dropped (the release drops faces of 6 x 6 px or less after its crop: they are no
    positives, and their anchors are negatives); faces narrower or shorter than
    ``min_gt_size`` are marked ignored. Parts of the window outside the image are filled with
    ``pad_val``. The window is resized with an interpolation drawn from linear, cubic, area,
    nearest and Lanczos (the release's augmentation), or area / bilinear when
    ``random_interpolation=False``.

    Required keys: ``img``. Optional: ``gt_bboxes``, ``gt_bboxes_labels``,
    ``gt_ignore_flags``, ``homography_matrix``.
    Modified keys: ``img``, ``img_shape`` and the optional keys above.

    Args:
        crop_size (int | tuple[int, int]): Output ``(width, height)``. Defaults to 640.
        pad_val (float | Sequence[float]): Fill value, one or one per channel. Defaults to
            (104, 117, 123), the BGR mean S3FD pads with.
        min_gt_size (float): Faces narrower or shorter than this many output pixels become
            ignored. Defaults to 1.0.
        min_gt_area (float): Faces of this area (output px^2) or less are dropped; 0 keeps
            every face. Defaults to 36 (the release's 6 x 6 px).
        random_interpolation (bool): Draw the resize interpolation at random.
            Defaults to True.
    """

    def __init__(self,
                 crop_size: Union[int, Tuple[int, int]] = 640,
                 pad_val: Union[float, Sequence[float]] = (104, 117, 123),
                 min_gt_size: float = 1.0,
                 min_gt_area: float = 36.0,
                 random_interpolation: bool = True) -> None:
        self.crop_size = to_size_pair(crop_size, f'{type(self).__name__}.crop_size')
        self.pad_val = pad_val
        if min_gt_size < 0:
            raise ValueError(f'{type(self).__name__}.min_gt_size must be >= 0, got '
                             f'{min_gt_size}')
        self.min_gt_size = float(min_gt_size)
        if min_gt_area < 0:
            raise ValueError(f'{type(self).__name__}.min_gt_area must be >= 0, got '
                             f'{min_gt_area}')
        self.min_gt_area = float(min_gt_area)
        self.random_interpolation = bool(random_interpolation)

    def sample_window(self, img_w: int, img_h: int, boxes: np.ndarray,
                      valid: np.ndarray) -> Window:
        """Return the window ``(x0, y0, x1, y1)`` to crop, in source pixels."""
        raise NotImplementedError

    def transform(self, results: dict) -> dict:
        if 'gt_masks' in results or 'gt_seg_map' in results:
            raise ValueError(f'{type(self).__name__} does not transform masks or '
                             'segmentation maps')
        img = results['img']
        img_h, img_w = img.shape[:2]
        gt_bboxes = results.get('gt_bboxes')
        if gt_bboxes is None:
            boxes = np.zeros((0, 4), np.float32)
        else:
            boxes = gt_bboxes.numpy() if hasattr(gt_bboxes, 'numpy') else np.asarray(
                gt_bboxes, np.float32)
            boxes = boxes.reshape(-1, 4)
        ignore = np.asarray(results.get('gt_ignore_flags', np.zeros(len(boxes), bool)),
                            bool).reshape(-1)
        if len(ignore) != len(boxes):
            raise ValueError(f'{type(self).__name__}: {len(boxes)} gt_bboxes but '
                             f'{len(ignore)} gt_ignore_flags')

        window = self.sample_window(img_w, img_h, boxes, ~ignore)
        interpolation = RANDOM_INTERPOLATIONS[np.random.randint(len(RANDOM_INTERPOLATIONS))] \
            if self.random_interpolation else None
        out_img, affine = crop_resize_window(img, window, self.crop_size, self.pad_val,
                                             interpolation)
        results['img'] = out_img
        results['img_shape'] = out_img.shape[:2]

        if gt_bboxes is not None:
            keep = np.flatnonzero(box_centers_inside(boxes, window))
            mapped = map_boxes(boxes[keep], affine, self.crop_size)
            area = (mapped[:, 2] - mapped[:, 0]) * (mapped[:, 3] - mapped[:, 1])
            large = area > self.min_gt_area if self.min_gt_area > 0 else np.ones(
                len(keep), bool)
            keep, mapped = keep[large], mapped[large]
            tiny = ((mapped[:, 2] - mapped[:, 0]) < self.min_gt_size) | \
                ((mapped[:, 3] - mapped[:, 1]) < self.min_gt_size)
            results['gt_bboxes'] = type(gt_bboxes)(mapped) if hasattr(
                gt_bboxes, 'numpy') else mapped
            results['gt_ignore_flags'] = ignore[keep] | tiny
            if results.get('gt_bboxes_labels') is not None:
                results['gt_bboxes_labels'] = np.asarray(results['gt_bboxes_labels'])[keep]

        if results.get('homography_matrix') is not None:
            ax, bx, ay, by = affine
            step = np.array([[ax, 0, bx], [0, ay, by], [0, 0, 1]], dtype=np.float32)
            results['homography_matrix'] = step @ results['homography_matrix']
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(crop_size={self.crop_size}, '
                f'pad_val={self.pad_val}, min_gt_size={self.min_gt_size}, '
                f'min_gt_area={self.min_gt_area}, '
                f'random_interpolation={self.random_interpolation})')
