import cv2
import numpy as np
import pytest
from mmdet.registry import TRANSFORMS

from mmdet_rnnpool.datasets.transforms import ToGray


def test_bgr_to_single_channel():
    img = np.random.RandomState(0).randint(0, 256, (6, 8, 3)).astype(np.uint8)
    out = TRANSFORMS.build(dict(type='ToGray'))(dict(img=img.copy()))['img']
    assert out.shape == (6, 8, 1) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., 0], cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
    rgb = ToGray(channel_order='rgb')(dict(img=img[..., ::-1].copy()))['img']
    np.testing.assert_array_equal(rgb, out)


def test_float_and_single_channel_inputs():
    img = np.random.rand(4, 5, 3).astype(np.float32) * 255
    out = ToGray()(dict(img=img))['img']
    assert out.dtype == np.float32 and out.shape == (4, 5, 1)
    np.testing.assert_allclose(out[..., 0],
                               img[..., 0] * 0.114 + img[..., 1] * 0.587 +
                               img[..., 2] * 0.299, rtol=1e-4)
    assert ToGray()(dict(img=np.zeros((4, 5), np.uint8)))['img'].shape == (4, 5, 1)


def test_errors():
    with pytest.raises(ValueError, match="channel_order must be 'bgr' or 'rgb'"):
        ToGray(channel_order='hsv')
    with pytest.raises(ValueError, match=r'expects an \(H, W, 3\) image'):
        ToGray()(dict(img=np.zeros((4, 5, 4), np.uint8)))
