"""Convert a colour image to a single grey channel (the RNNPool-Face-M4 model sees QVGA
monochrome frames)."""
import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS


@TRANSFORMS.register_module()
class ToGray(BaseTransform):
    """Convert a 3-channel image to ``(H, W, 1)`` grey (ITU-R 601 luma, as OpenCV).

    The dtype is kept (uint8 stays uint8; the float32 output of photometric distortion stays
    float32). A single-channel ``(H, W)`` or ``(H, W, 1)`` input is returned as
    ``(H, W, 1)`` unchanged.

    Required keys: ``img``. Modified keys: ``img``.

    Args:
        channel_order (str): ``'bgr'`` (what ``LoadImageFromFile`` gives) or ``'rgb'``.
            Defaults to 'bgr'.
    """

    def __init__(self, channel_order: str = 'bgr') -> None:
        if channel_order not in ('bgr', 'rgb'):
            raise ValueError(f"ToGray.channel_order must be 'bgr' or 'rgb', got "
                             f'{channel_order!r}')
        self.channel_order = channel_order

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 1):
            results['img'] = img.reshape(img.shape[0], img.shape[1], 1)
            return results
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f'ToGray expects an (H, W, 3) image, got shape {img.shape}')
        if img.dtype not in (np.uint8, np.uint16, np.float32):
            img = img.astype(np.float32)
        code = cv2.COLOR_BGR2GRAY if self.channel_order == 'bgr' else cv2.COLOR_RGB2GRAY
        results['img'] = cv2.cvtColor(np.ascontiguousarray(img), code)[..., None]
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(channel_order={self.channel_order!r})'
