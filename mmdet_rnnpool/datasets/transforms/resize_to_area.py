"""Test-time resize to a fixed pixel count (the RNNPool paper evaluates WIDER FACE at the
area of 640 x 480, keeping each image's aspect ratio)."""
import math
from typing import Optional

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS


@TRANSFORMS.register_module()
class ResizeToArea(BaseTransform):
    """Resize the image so that ``width * height`` is about ``area``, keeping its aspect.

    The scale is ``sqrt(area / (w * h))``; each side is rounded, so the aspect ratio
    changes by at most half a pixel per side. ``scale_factor`` records the exact
    ``(w_new / w, h_new / h)`` (composed with any earlier one) so that predictions are
    mapped back to the original image with ``rescale=True``.

    Required keys: ``img``. Optional: ``gt_bboxes``, ``homography_matrix``,
    ``scale_factor``.
    Modified keys: ``img``, ``img_shape``, ``gt_bboxes``, ``homography_matrix``.
    Added keys: ``scale_factor``, ``keep_ratio``.

    Args:
        area (int): Target pixel count. Defaults to 640 * 480.
        allow_upscale (bool): Enlarge images smaller than ``area``. Defaults to True.
        max_side (int, optional): Cap on the longer side after resizing (guards against
            extreme aspect ratios). Defaults to None (no cap).
        clip_object_border (bool): Clip boxes to the resized image. Defaults to True.
    """

    def __init__(self,
                 area: int = 640 * 480,
                 allow_upscale: bool = True,
                 max_side: Optional[int] = None,
                 clip_object_border: bool = True) -> None:
        if not isinstance(area, (int, np.integer)) or area <= 0:
            raise ValueError(f'ResizeToArea.area must be a positive int, got {area!r}')
        if max_side is not None and max_side <= 0:
            raise ValueError(f'ResizeToArea.max_side must be positive, got {max_side!r}')
        self.area = int(area)
        self.allow_upscale = allow_upscale
        self.max_side = max_side
        self.clip_object_border = clip_object_border

    def target_size(self, width: int, height: int) -> tuple:
        """Return the ``(width, height)`` an image of the given size is resized to."""
        scale = math.sqrt(self.area / (width * height))
        if not self.allow_upscale:
            scale = min(scale, 1.0)
        if self.max_side is not None:
            scale = min(scale, self.max_side / max(width, height))
        return max(1, int(round(width * scale))), max(1, int(round(height * scale)))

    def transform(self, results: dict) -> dict:
        img = results['img']
        h, w = img.shape[:2]
        new_w, new_h = self.target_size(w, h)
        if (new_w, new_h) != (w, h):
            interpolation = cv2.INTER_AREA if new_w * new_h < w * h else cv2.INTER_LINEAR
            resized = cv2.resize(img, (new_w, new_h), interpolation=interpolation)
            img = resized.reshape(new_h, new_w, *img.shape[2:])
        w_scale, h_scale = new_w / w, new_h / h
        results['img'] = img
        results['img_shape'] = (new_h, new_w)
        old = results.get('scale_factor', (1.0, 1.0))
        results['scale_factor'] = (old[0] * w_scale, old[1] * h_scale)
        results['keep_ratio'] = True
        if results.get('gt_bboxes') is not None:
            boxes = results['gt_bboxes']
            if hasattr(boxes, 'rescale_'):
                boxes.rescale_((w_scale, h_scale))
                if self.clip_object_border:
                    boxes.clip_((new_h, new_w))
            else:
                boxes = np.asarray(boxes, np.float32).reshape(-1, 4) * np.array(
                    [w_scale, h_scale, w_scale, h_scale], np.float32)
                if self.clip_object_border:
                    boxes[:, 0::2] = boxes[:, 0::2].clip(0, new_w)
                    boxes[:, 1::2] = boxes[:, 1::2].clip(0, new_h)
                results['gt_bboxes'] = boxes
        if results.get('homography_matrix') is not None:
            step = np.diag([w_scale, h_scale, 1.0]).astype(np.float32)
            results['homography_matrix'] = step @ results['homography_matrix']
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(area={self.area}, allow_upscale={self.allow_upscale}, '
                f'max_side={self.max_side}, clip_object_border={self.clip_object_border})')
