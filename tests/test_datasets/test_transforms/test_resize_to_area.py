import numpy as np
import pytest
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import HorizontalBoxes

from mmdet_rnnpool.datasets.transforms import ResizeToArea


@pytest.mark.parametrize('h, w', [(500, 1000), (1024, 683), (240, 320), (480, 640)])
def test_area_and_aspect(h, w):
    transform = TRANSFORMS.build(dict(type='ResizeToArea', area=640 * 480))
    box = np.array([[10, 20, 110, 220]], np.float32)
    out = transform(dict(img=np.zeros((h, w, 3), np.uint8), img_shape=(h, w),
                         gt_bboxes=HorizontalBoxes(box.copy())))
    new_h, new_w = out['img'].shape[:2]
    assert out['img_shape'] == (new_h, new_w)
    assert abs(new_w * new_h - 640 * 480) <= new_w + new_h  # area, up to rounding
    assert abs(new_w / new_h - w / h) <= 1.0 / min(new_h, new_w) * (w / h + 1)
    w_scale, h_scale = out['scale_factor']
    assert (w_scale, h_scale) == (new_w / w, new_h / h)
    assert out['keep_ratio']
    # Predictions divided by scale_factor land back on the original image.
    back = out['gt_bboxes'].numpy() / np.array([w_scale, h_scale, w_scale, h_scale])
    np.testing.assert_allclose(back, box, rtol=1e-5)


def test_options_and_gray():
    small = dict(img=np.zeros((100, 200, 1), np.uint8))
    assert ResizeToArea(area=640 * 480)(dict(small))['img'].shape == (392, 784, 1)
    assert ResizeToArea(area=640 * 480, allow_upscale=False)(dict(small))['img'].shape == \
        (100, 200, 1)
    capped = ResizeToArea(area=640 * 480, max_side=500)(dict(small))
    assert capped['img'].shape[:2] == (250, 500)
    chained = ResizeToArea(area=100 * 50)(dict(img=np.zeros((100, 200, 3)),
                                              scale_factor=(2.0, 2.0)))
    assert chained['scale_factor'] == (1.0, 1.0)  # composed with the earlier factor
    with pytest.raises(ValueError, match='area must be a positive int'):
        ResizeToArea(area=0)
