"""The layers-only part of a detector (image -> raw head outputs), for exporters and analysis."""
from typing import Optional, Sequence, Tuple, Union

import cv2
import mmcv
import numpy as np
import torch
import torch.nn as nn
from torch import Tensor


class DetectorLayers(nn.Module):
    """Backbone (+ neck) + head forward of a single-stage detector as one plain module.

    No data preprocessing, anchors or post-processing: the input is the normalised image batch
    and the outputs are the head's per-level maps, flattened as
    ``(cls_score_0, ..., cls_score_{L-1}, bbox_pred_0, ..., bbox_pred_{L-1})`` so that ONNX
    gets one named output per map.

    Args:
        detector (nn.Module): A detector with ``extract_feat`` and ``bbox_head``
            (e.g. mmdet's ``SingleStageDetector``).
        raw (bool): Return the head's raw conv outputs (``bbox_head.forward_layers``: before
            S3FD's max-out background) instead of ``bbox_head.forward``'s. Defaults to False.
    """

    def __init__(self, detector: nn.Module, raw: bool = False) -> None:
        super().__init__()
        for attr in ('extract_feat', 'bbox_head'):
            if not hasattr(detector, attr):
                raise ValueError(f'DetectorLayers needs a single-stage detector with '
                                 f'`{attr}`, got {type(detector).__name__}')
        if raw and not hasattr(detector.bbox_head, 'forward_layers'):
            raise ValueError(f'{type(detector.bbox_head).__name__} has no forward_layers; '
                             'use raw=False')
        self.detector = detector
        self.raw = raw

    @property
    def num_levels(self) -> int:
        """Number of detection levels ``L``."""
        return self.detector.bbox_head.prior_generator.num_levels

    def forward(self, img: Tensor) -> Tuple[Tensor, ...]:
        """Run the layers on an ``(N, C, H, W)`` normalised image batch."""
        feats = self.detector.extract_feat(img)
        head = self.detector.bbox_head
        cls_scores, bbox_preds = head.forward_layers(feats) if self.raw else head(feats)
        return tuple(cls_scores) + tuple(bbox_preds)


def image_to_input(detector: nn.Module,
                   image: Union[str, np.ndarray],
                   shape: Optional[Sequence[int]] = None) -> Tensor:
    """Turn an image into the normalised batch :class:`DetectorLayers` takes.

    The image is read as BGR (``mmcv.imread``), made grey when the backbone takes one channel,
    resized to ``shape`` (no aspect ratio kept) and passed through the detector's
    ``data_preprocessor`` (mean / std, channel order, padding).

    Args:
        detector (nn.Module): The detector (its ``data_preprocessor`` and
            ``backbone.in_channels`` are used).
        image (str | np.ndarray): Image path or ``H x W x 3`` BGR / ``H x W`` grey uint8 array.
        shape (Sequence[int], optional): ``(H, W)`` to resize to; None keeps the image's.
            Defaults to None.

    Returns:
        Tensor: ``(1, C, H, W)`` float batch on the detector's device.
    """
    img = mmcv.imread(image) if isinstance(image, str) else np.asarray(image)
    if img is None or img.ndim not in (2, 3):
        raise ValueError(f'cannot read an image from {image!r}' if isinstance(image, str) else
                         f'expected an H x W [x C] image array, got shape {img.shape}')
    channels = getattr(getattr(detector, 'backbone', None), 'in_channels', 3)
    if channels == 1 and img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    elif channels == 3 and img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if shape is not None:
        img = cv2.resize(img, (int(shape[1]), int(shape[0])), interpolation=cv2.INTER_LINEAR)
    if img.ndim == 2:
        img = img[..., None]
    tensor = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
    return detector.data_preprocessor(dict(inputs=[tensor]), False)['inputs']
