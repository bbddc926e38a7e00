"""ImageEnhanceDistortion: the release's photometric distortion on hand-made images."""
import numpy as np
import pytest
from mmdet.registry import TRANSFORMS

from mmdet_rnnpool.datasets.transforms import ImageEnhanceDistortion

IDENTITY = dict(brightness_range=(1, 1), contrast_range=(1, 1), saturation_range=(1, 1),
                hue_delta=0, prob=1.0)


def _run(img_bgr, **kwargs):
    transform = TRANSFORMS.build(dict(type='ImageEnhanceDistortion', **{**IDENTITY, **kwargs}))
    return transform(dict(img=np.asarray(img_bgr, np.uint8)))['img']


def _pixels(*bgr):
    return np.array([bgr], np.uint8)  # 1 x N x 3


def test_identity_factors_change_nothing():
    img = np.random.RandomState(0).randint(0, 256, (5, 7, 3)).astype(np.uint8)
    out = _run(img)
    np.testing.assert_array_equal(out, img)
    assert out.dtype == np.uint8 and out.flags['C_CONTIGUOUS']


def test_brightness_is_multiplicative():
    # 1.1 x: (100, 50, 200) -> (110, 55, 220), 250 clips to 255 and 0 stays 0 (mmdet's
    # additive brightness would lift the black pixel).
    out = _run(_pixels((100, 50, 200), (250, 0, 10)), brightness_range=(1.1, 1.1))
    np.testing.assert_array_equal(out[0], [[110, 55, 220], [255, 0, 11]])


def test_contrast_scales_around_the_mean_grey():
    # Two grey levels, 100 and 200: mean 150; factor 0.5 -> 125 and 175.
    img = np.array([[[100] * 3, [200] * 3]], np.uint8)
    out = _run(img, contrast_range=(0.5, 0.5))
    np.testing.assert_array_equal(out[0], [[125] * 3, [175] * 3])


def test_saturation_blends_with_grey():
    # Factor 0: the grey version (PIL's luma, 0.299 R + 0.587 G + 0.114 B); a grey pixel
    # stays. RGB (200, 100, 0) -> luma 118.5 (PIL: 118).
    out = _run(_pixels((0, 100, 200), (90, 90, 90)), saturation_range=(0., 0.))
    np.testing.assert_array_equal(out[0, 0], [118, 118, 118])
    np.testing.assert_array_equal(out[0, 1], [90, 90, 90])


@pytest.mark.parametrize('delta, green, blue', [(18, 108, 0), (-18, 0, 102)])
def test_hue_in_pil_units(delta, green, blue):
    from mmdet_rnnpool.datasets.transforms.image_enhance_distortion import shift_hue
    from PIL import Image
    # Pure red (PIL hue 0) + 18 -> hue 18 of PIL's ~255 per turn = 25.4 degrees: G = 255 *
    # 25.4 / 60 = 108 (18 OpenCV-float degrees would give 76); - 18 wraps to 238 (uint8),
    # 336 degrees: B = 102.
    out = np.asarray(shift_hue(Image.fromarray(np.array([[[255, 0, 0]]], np.uint8)), delta))
    r, g, b = out[0, 0].astype(int)
    assert r == 255 and abs(g - green) <= 1 and abs(b - blue) <= 1


def test_release_defaults_and_ranges():
    transform = ImageEnhanceDistortion()
    assert transform.brightness_range == (0.875, 1.125)
    assert transform.contrast_range == (0.5, 1.5)
    assert transform.saturation_range == (0.5, 1.5)
    assert transform.hue_delta == 18 and transform.prob == 0.5
    # Brightness alone on a mid grey: half the images untouched, the others scaled by a
    # factor within [0.875, 1.125], reaching near both ends.
    np.random.seed(0)
    only_brightness = ImageEnhanceDistortion(contrast_range=(1, 1), saturation_range=(1, 1),
                                             hue_delta=0)
    ratios = np.array([
        only_brightness(dict(img=np.full((2, 2, 3), 160, np.uint8)))['img'][0, 0, 0] / 160
        for _ in range(400)])
    untouched = np.mean(ratios == 1)
    assert 0.4 < untouched < 0.6
    assert ratios.min() >= 0.875 - 1 / 160 and ratios.max() <= 1.125 + 1 / 160
    assert ratios.min() < 0.89 and ratios.max() > 1.11


def test_channels_never_permuted():
    # Pure blue (BGR) under every random step stays blue-dominant: the hue moves by at most
    # 25 degrees, the other steps are blends with grey or black. mmdet's
    # PhotoMetricDistortion swaps channels half of the time.
    np.random.seed(1)
    transform = ImageEnhanceDistortion(prob=1.0)
    for _ in range(100):
        b, g, r = transform(dict(img=_pixels((230, 20, 20))))['img'][0, 0].astype(int)
        assert b > g and b > r


def test_bad_input_and_arguments():
    with pytest.raises(ValueError, match=r'ImageEnhanceDistortion expects a uint8 H x W x 3'):
        ImageEnhanceDistortion()(dict(img=np.zeros((4, 4, 3), np.float32), img_path='x.jpg'))
    with pytest.raises(ValueError, match='ImageEnhanceDistortion.contrast_range'):
        ImageEnhanceDistortion(contrast_range=(1.5, 0.5))
    with pytest.raises(ValueError, match='ImageEnhanceDistortion.hue_delta'):
        ImageEnhanceDistortion(hue_delta=-1)
    with pytest.raises(ValueError, match='ImageEnhanceDistortion.prob'):
        ImageEnhanceDistortion(prob=2)
