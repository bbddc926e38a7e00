import cv2
import numpy as np
import pytest

from mmdet_rnnpool.datasets.transforms.window_ops import (RANDOM_INTERPOLATIONS,
                                                           box_centers_inside, boxes_inside,
                                                           crop_resize_window, map_boxes,
                                                           sample_anchor_window,
                                                           sample_zoom_in_window,
                                                           window_for_whole_image)


def _marked_image(h=60, w=80, box=(20, 10, 40, 30)):
    """A dark image with one bright rectangle at ``box`` (x1 y1 x2 y2)."""
    img = np.full((h, w, 3), 10, np.uint8)
    x1, y1, x2, y2 = box
    img[y1:y2, x1:x2] = 250
    return img


def _bright_extent(img):
    ys, xs = np.nonzero(img[..., 0] > 128)
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


@pytest.mark.parametrize('window, out_size', [
    ((10, 5, 70, 50), (120, 90)),  # inside, enlarged 2x
    ((0, 0, 80, 60), (40, 30)),  # whole image, shrunk
    ((-20, -15, 100, 75), (64, 48)),  # larger than the image: padded
    ((15, 8, 47, 32), (64, 48)),  # tight around the mark
])
def test_boxes_follow_the_pixels(window, out_size):
    box = (20, 10, 40, 30)
    out, affine = crop_resize_window(_marked_image(box=box), window, out_size, pad_val=0)
    assert out.shape == (out_size[1], out_size[0], 3) and out.dtype == np.uint8
    mapped = map_boxes(np.array([box], np.float32), affine, out_size)[0]
    # The mapped box and the bright pixels agree to within one pixel (interpolation).
    np.testing.assert_allclose(_bright_extent(out), mapped, atol=1.01)


def test_padding_value_and_channels():
    img = np.full((10, 10, 3), 200, np.uint8)
    out, _ = crop_resize_window(img, (-10, 0, 10, 10), (20, 10), pad_val=(1, 2, 3))
    np.testing.assert_array_equal(out[5, 2], [1, 2, 3])
    np.testing.assert_array_equal(out[5, 15], [200, 200, 200])
    gray, _ = crop_resize_window(img[..., :1], (-10, 0, 10, 10), (20, 10), pad_val=7)
    assert gray.shape == (10, 20, 1) and gray[0, 0, 0] == 7
    flat, _ = crop_resize_window(img[..., 0], (0, 0, 5, 5), (10, 10))
    assert flat.shape == (10, 10)
    with pytest.raises(ValueError, match='pad_val has 2 values but the image has 3'):
        crop_resize_window(img, (0, 0, 5, 5), (10, 10), pad_val=(1, 2))
    with pytest.raises(ValueError, match='window must have positive size'):
        crop_resize_window(img, (5, 0, 5, 5), (10, 10))


def test_window_outside_image_is_all_padding():
    out, affine = crop_resize_window(np.ones((10, 10, 3), np.float32), (20, 20, 30, 30),
                                     (5, 5), pad_val=0.5)
    assert np.all(out == 0.5)
    np.testing.assert_allclose(affine, (0.5, -10, 0.5, -10))


def test_centre_rule_and_clipping():
    boxes = np.array([[0, 0, 10, 10], [8, 8, 30, 30], [40, 40, 50, 50]], np.float32)
    keep = box_centers_inside(boxes, (0, 0, 20, 20))
    assert keep.tolist() == [True, True, False]
    mapped = map_boxes(boxes[keep], (1.0, 0.0, 1.0, 0.0), (20, 20))
    np.testing.assert_array_equal(mapped[1], [8, 8, 20, 20])


def test_zoom_in_window_keeps_a_face_and_is_seeded():
    boxes = np.array([[300, 200, 320, 220]], np.float32)
    valid = np.array([True])
    windows = []
    for _ in range(2):
        rng = np.random.RandomState(3)
        windows.append([
            sample_zoom_in_window(rng, 640, 480, boxes, valid, (640, 640), 0.3, 0.2, 50)
            for _ in range(30)
        ])
    assert windows[0] == windows[1]
    for x0, y0, x1, y1 in windows[0]:
        assert 0 <= x0 and 0 <= y0 and x1 <= 640 + 1e-6 and y1 <= 480 + 1e-6
        assert x1 - x0 == pytest.approx(y1 - y0)  # square, like the output
        assert 144 - 1e-6 <= x1 - x0 <= 480 + 1e-6  # 0.3..1 of the short side
        assert boxes_inside(boxes, (x0, y0, x1, y1))[0]  # the whole face, not its centre


def test_zoom_in_window_needs_a_whole_face():
    # A face as tall as the 200 x 100 image: square patches of 30..100 px (full_prob 0, so
    # never exactly 100) often hold its centre but never all of it, so after every trial fails
    # the whole image is used. A 20-px face is found wholly inside a patch.
    tall = np.array([[0, 0, 60, 100]], np.float32)
    window = sample_zoom_in_window(np.random.RandomState(0), 200, 100, tall,
                                   np.array([True]), (64, 64), 0.3, 0.0, 100)
    assert window == window_for_whole_image(200, 100, (64, 64))
    small = np.array([[5, 40, 25, 60]], np.float32)
    window = sample_zoom_in_window(np.random.RandomState(0), 200, 100, small,
                                   np.array([True]), (64, 64), 0.3, 0.0, 2000)
    assert window != window_for_whole_image(200, 100, (64, 64))
    assert boxes_inside(small, window)[0]


def test_boxes_inside():
    boxes = np.array([[0, 0, 10, 10], [5, 5, 25, 15], [-1, 0, 5, 5]], np.float32)
    assert boxes_inside(boxes, (0, 0, 20, 20)).tolist() == [True, False, False]


def test_explicit_interpolations_are_the_opencv_ones():
    rng = np.random.RandomState(0)
    img = rng.randint(0, 256, (9, 13, 3)).astype(np.uint8)
    outputs = []
    for flag in RANDOM_INTERPOLATIONS:
        out, _ = crop_resize_window(img, (0, 0, 13, 9), (29, 20), interpolation=flag)
        np.testing.assert_array_equal(out, cv2.resize(img, (29, 20), interpolation=flag))
        outputs.append(out.tobytes())
    assert len(set(outputs)) == 5  # five distinct methods


def test_zoom_in_falls_back_to_whole_image():
    # A face centred outside the image can never be inside a patch.
    boxes = np.array([[-50, -50, -40, -40]], np.float32)
    window = sample_zoom_in_window(np.random.RandomState(0), 100, 50, boxes,
                                   np.array([True]), (64, 64), 0.3, 0.0, 3)
    assert window == window_for_whole_image(100, 50, (64, 64)) == (0.0, 0.0, 100.0, 100.0)


def test_anchor_window_scales_face_to_an_anchor():
    boxes = np.array([[100, 100, 140, 140], [0, 0, 5, 5]], np.float32)  # 40 px face
    valid = np.array([True, False])  # the ignored one is never chosen
    anchors = (16, 32, 64, 128, 256, 512)
    rng = np.random.RandomState(0)
    for _ in range(50):
        x0, y0, x1, y1 = sample_anchor_window(rng, 640, 480, boxes, valid, (640, 640),
                                              anchors)
        scale = 640 / (x1 - x0)
        face = 40 * scale
        # Nearest anchor to 40 is 32 (index 1): target anchors 16, 32 or 64, size in
        # [anchor / 2, anchor * 2].
        assert 8 - 1e-6 <= face <= 128 + 1e-6
        assert x0 <= 100 and x1 >= 140 and y0 <= 100 and y1 >= 140  # the face is inside
        if x1 - x0 <= 480:  # small enough: the window stays inside the image
            assert 0 <= x0 and x1 <= 640 and 0 <= y0 and y1 <= 480
    # The size jitter is 2 ** u, u uniform in [-1, 1]: with a single 32-px anchor, half the
    # faces come out above 32 px (a uniform size in [16, 64] would put two thirds there), and
    # log2(face / 32) spreads evenly over [-1, 1].
    rng = np.random.RandomState(1)
    sizes = []
    for _ in range(800):
        x0, _, x1, _ = sample_anchor_window(rng, 640, 480, boxes, valid, (640, 640), (32, ))
        sizes.append(40 * 640 / (x1 - x0))
    log_ratio = np.log2(np.array(sizes) / 32)
    assert log_ratio.min() >= -1 - 1e-9 and log_ratio.max() <= 1 + 1e-9
    assert 0.44 < np.mean(log_ratio > 0) < 0.56
    quarters = np.histogram(log_ratio, bins=4, range=(-1, 1))[0] / len(log_ratio)
    assert np.all(np.abs(quarters - 0.25) < 0.05)
    empty = sample_anchor_window(rng, 64, 48, boxes, np.array([False, False]), (32, 32),
                                 anchors)
    assert empty == window_for_whole_image(64, 48, (32, 32))
