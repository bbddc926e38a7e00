"""The photometric distortion of the RNNPool face detectors' release (PIL ``ImageEnhance``).

mmdet's ``PhotoMetricDistortion`` differs from it in kind, not only in range: it adds to the
brightness, scales contrast around 0 rather than the mean grey, works in OpenCV's HSV for the
saturation, and permutes the colour channels half of the time. This transform is the
release's: each step applied with probability ``prob``, in one of two orders.
"""
from typing import Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS
from PIL import Image, ImageEnhance

#: PIL's HSV hue is a uint8 (about 255 units per turn); a shifted hue wraps modulo 256.
PIL_HUE_TURN = 256


def shift_hue(img: Image.Image, delta: float) -> Image.Image:
    """Rotate the hue of an RGB image by ``delta`` PIL hue units (~255 per turn).

    As in the release, the shifted hue is truncated to an integer and wraps as a uint8.
    """
    hsv = np.asarray(img.convert('HSV')).copy()
    hue = np.trunc(hsv[..., 0].astype(np.float64) + delta)
    hsv[..., 0] = np.mod(hue, PIL_HUE_TURN).astype(np.uint8)
    return Image.fromarray(hsv, mode='HSV').convert('RGB')


def _range(value: Sequence[float], name: str) -> tuple:
    pair = tuple(float(v) for v in value)
    if len(pair) != 2 or not 0 <= pair[0] <= pair[1]:
        raise ValueError(f'ImageEnhanceDistortion.{name} must be (low, high) with '
                         f'0 <= low <= high, got {value!r}')
    return pair


@TRANSFORMS.register_module()
class ImageEnhanceDistortion(BaseTransform):
    """Random brightness, contrast, saturation and hue, as the release distorts its images.

    Each step happens with probability ``prob`` (independently), with a factor drawn uniformly
    from its range:

    - brightness: every channel multiplied by the factor (a blend with black);
    - contrast: a blend with the image's mean grey level (PIL's ``ImageEnhance.Contrast``);
    - saturation: a blend with the image's grey version (``ImageEnhance.Color``);
    - hue: a rotation by ``uniform(-hue_delta, hue_delta)`` PIL hue units (~255 per turn,
      so the release's 18 is about +-25 degrees); ``hue_delta=0`` skips the step.

    The order is brightness, contrast, saturation, hue or (with probability 0.5) brightness,
    saturation, hue, contrast. The colour channels are never permuted. Results are rounded
    to uint8 after every step, as PIL does.

    Required keys: ``img`` (uint8, ``H x W x 3`` BGR, as ``LoadImageFromFile`` gives it).
    Modified keys: ``img``.

    Args:
        brightness_range (Sequence[float]): Brightness factors. Defaults to (0.875, 1.125).
        contrast_range (Sequence[float]): Contrast factors. Defaults to (0.5, 1.5).
        saturation_range (Sequence[float]): Saturation factors. Defaults to (0.5, 1.5).
        hue_delta (float): Largest hue shift in PIL hue units. Defaults to 18.
        prob (float): Probability of each step. Defaults to 0.5.
    """

    def __init__(self,
                 brightness_range: Sequence[float] = (0.875, 1.125),
                 contrast_range: Sequence[float] = (0.5, 1.5),
                 saturation_range: Sequence[float] = (0.5, 1.5),
                 hue_delta: float = 18,
                 prob: float = 0.5) -> None:
        self.brightness_range = _range(brightness_range, 'brightness_range')
        self.contrast_range = _range(contrast_range, 'contrast_range')
        self.saturation_range = _range(saturation_range, 'saturation_range')
        if not 0 <= hue_delta <= PIL_HUE_TURN / 2:
            raise ValueError('ImageEnhanceDistortion.hue_delta must be in [0, 128] (PIL hue '
                             f'units), got {hue_delta!r}')
        if not 0 <= prob <= 1:
            raise ValueError(f'ImageEnhanceDistortion.prob must be in [0, 1], got {prob!r}')
        self.hue_delta = float(hue_delta)
        self.prob = float(prob)

    def _enhance(self, img: Image.Image, enhancer, factors: tuple) -> Image.Image:
        if np.random.uniform() < self.prob:
            img = enhancer(img).enhance(np.random.uniform(*factors))
        return img

    def _hue(self, img: Image.Image) -> Image.Image:
        if np.random.uniform() < self.prob and self.hue_delta > 0:
            img = shift_hue(img, np.random.uniform(-self.hue_delta, self.hue_delta))
        return img

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError('ImageEnhanceDistortion expects a uint8 H x W x 3 BGR image, got '
                             f'{img.dtype} {img.shape} ({results.get("img_path", "?")}); put '
                             'it right after LoadImageFromFile')
        pil = Image.fromarray(np.ascontiguousarray(img[..., ::-1]))
        contrast_first = np.random.uniform() > 0.5
        pil = self._enhance(pil, ImageEnhance.Brightness, self.brightness_range)
        if contrast_first:
            pil = self._enhance(pil, ImageEnhance.Contrast, self.contrast_range)
        pil = self._enhance(pil, ImageEnhance.Color, self.saturation_range)
        pil = self._hue(pil)
        if not contrast_first:
            pil = self._enhance(pil, ImageEnhance.Contrast, self.contrast_range)
        results['img'] = np.ascontiguousarray(np.asarray(pil)[..., ::-1])
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(brightness_range={self.brightness_range}, '
                f'contrast_range={self.contrast_range}, '
                f'saturation_range={self.saturation_range}, hue_delta={self.hue_delta}, '
                f'prob={self.prob})')
