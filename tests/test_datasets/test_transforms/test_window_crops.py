import numpy as np
import pytest
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import HorizontalBoxes

from mmdet_rnnpool.datasets.transforms import DataAnchorSampling, ZoomInRandomCrop

# Three faces drawn as bright squares of distinct brightness; the last one is ignored.
BOXES = np.array([[40, 30, 80, 70], [200, 120, 230, 150], [120, 20, 150, 50]], np.float32)
VALUES = (250, 200, 150)


def _results(h=240, w=320, ignore=(False, False, True)):
    img = np.full((h, w, 3), 20, np.uint8)
    for (x1, y1, x2, y2), v in zip(BOXES.astype(int), VALUES):
        img[y1:y2, x1:x2] = v
    return dict(img=img, img_shape=(h, w), gt_bboxes=HorizontalBoxes(BOXES.copy()),
                gt_bboxes_labels=np.arange(3, dtype=np.int64),
                gt_ignore_flags=np.array(ignore))


def _check_consistent(results, size):
    img = results['img']
    assert img.shape[:2] == (size[1], size[0]) and results['img_shape'] == img.shape[:2]
    boxes = results['gt_bboxes'].numpy()
    labels, ignore = results['gt_bboxes_labels'], results['gt_ignore_flags']
    assert len(boxes) == len(labels) == len(ignore)
    assert np.all(boxes[:, 0::2] >= 0) and np.all(boxes[:, 0::2] <= size[0])
    assert np.all(boxes[:, 1::2] >= 0) and np.all(boxes[:, 1::2] <= size[1])
    for box, label, ign in zip(boxes, labels, ignore):
        # Labels travel with their boxes; the ignored face stays ignored.
        if label == 2:
            assert ign
        x1, y1, x2, y2 = box
        if x2 - x1 >= 4 and y2 - y1 >= 4:  # the pixels inside match the face drawn there
            core = img[int(np.ceil(y1)) + 1:int(y2) - 1, int(np.ceil(x1)) + 1:int(x2) - 1]
            assert abs(float(np.median(core[..., 0])) - VALUES[label]) < 20


@pytest.mark.parametrize('transform_cfg', [
    dict(type='ZoomInRandomCrop', crop_size=128),
    dict(type='ZoomInRandomCrop', crop_size=(160, 120), min_scale=0.5),
    dict(type='DataAnchorSampling', crop_size=128, anchor_sizes=(16, 32, 64)),
    dict(type='DataAnchorSampling', crop_size=(160, 120)),
])
def test_crops_keep_boxes_consistent(transform_cfg):
    transform = TRANSFORMS.build(transform_cfg)
    size = transform.crop_size
    kept_valid = 0
    np.random.seed(0)
    for _ in range(40):
        results = transform(_results())
        _check_consistent(results, size)
        kept_valid += int((~results['gt_ignore_flags']).sum())
    assert kept_valid >= 40  # every crop keeps at least one face that is not ignored


@pytest.mark.parametrize('cls', [ZoomInRandomCrop, DataAnchorSampling])
def test_deterministic_under_a_seed(cls):
    transform = cls(crop_size=96)
    outputs = []
    for _ in range(2):
        np.random.seed(7)
        outputs.append([transform(_results()) for _ in range(5)])
    for a, b in zip(*outputs):
        np.testing.assert_array_equal(a['img'], b['img'])
        np.testing.assert_array_equal(a['gt_bboxes'].numpy(), b['gt_bboxes'].numpy())


def test_zoom_in_filters_by_centre():
    # Every patch holds the centre of a face that is not ignored; the others may be cut.
    np.random.seed(1)
    transform = ZoomInRandomCrop(crop_size=64, min_scale=0.3, full_prob=0.0)
    dropped = 0
    for _ in range(20):
        results = transform(_results())
        labels = results['gt_bboxes_labels']
        assert 0 in labels or 1 in labels
        dropped += 3 - len(results['gt_bboxes_labels'])
    assert dropped > 0  # small patches do cut faces away


def test_narrow_faces_become_ignored_not_dropped():
    transform = ZoomInRandomCrop(crop_size=32, min_scale=1.0, full_prob=1.0, min_gt_size=8,
                                 min_gt_area=0)
    results = transform(_results())  # 240-px square -> 32 px: 30-px faces become 4 px
    assert len(results['gt_bboxes_labels']) >= 2
    small = (results['gt_bboxes'].widths < 8).numpy()
    assert np.all(results['gt_ignore_flags'][small])


@pytest.mark.parametrize('cls', [ZoomInRandomCrop, DataAnchorSampling])
def test_faces_of_36_px2_or_less_are_dropped(cls):
    # A 100 x 100 image cropped whole onto 100 x 100 output pixels (the identity), so the
    # areas below are the areas in the crop.
    boxes = np.array([
        [10, 10, 16, 16],  # 6 x 6 = 36: dropped (the release keeps only area > 36)
        [30, 30, 36, 36.5],  # 6 x 6.5 = 39: kept
        [50, 50, 53, 70],  # 3 x 20 = 60: kept, though 3 px wide
        [70, 70, 75, 75],  # 25: dropped
        [80, 5, 99, 24],  # 19 x 19: kept (the face DAS may pick)
    ], np.float32)

    def results():
        return dict(img=np.zeros((100, 100, 3), np.uint8), img_shape=(100, 100),
                    gt_bboxes=HorizontalBoxes(boxes.copy()),
                    gt_bboxes_labels=np.arange(5, dtype=np.int64),
                    gt_ignore_flags=np.array([False, False, True, False, False]))

    if cls is ZoomInRandomCrop:
        transform = cls(crop_size=100, min_scale=1.0, full_prob=1.0)
    else:
        # DAS's window is random in scale: pin it (the box rules are BaseWindowCrop's).
        transform = cls(crop_size=100)
        transform.sample_window = lambda *args: (0.0, 0.0, 100.0, 100.0)
    out = transform(results())
    assert out['gt_bboxes_labels'].tolist() == [1, 2, 4]
    np.testing.assert_allclose(out['gt_bboxes'].numpy(), boxes[[1, 2, 4]])
    assert out['gt_ignore_flags'].tolist() == [False, True, False]
    # min_gt_area=0 keeps them all.
    keep_all = cls(crop_size=100, min_gt_area=0)
    keep_all.sample_window = lambda *args: (0.0, 0.0, 100.0, 100.0)
    assert len(keep_all(results())['gt_bboxes_labels']) == 5


def test_random_interpolation_draws_the_five_methods():
    from mmdet_rnnpool.datasets.transforms.window_ops import (RANDOM_INTERPOLATIONS,
                                                               crop_resize_window)
    img = np.random.RandomState(0).randint(0, 256, (30, 40, 3)).astype(np.uint8)
    window = (3.0, 2.0, 27.0, 26.0)  # enlarged 24 -> 64 px
    by_method = {crop_resize_window(img, window, (64, 64), interpolation=flag)[0].tobytes(): flag
                 for flag in RANDOM_INTERPOLATIONS}
    assert len(by_method) == 5
    transform = ZoomInRandomCrop(crop_size=64)
    transform.sample_window = lambda *args: window
    np.random.seed(0)
    seen = [by_method[transform(dict(img=img.copy()))['img'].tobytes()] for _ in range(60)]
    assert set(seen) == set(RANDOM_INTERPOLATIONS)
    fixed = ZoomInRandomCrop(crop_size=64, random_interpolation=False)
    fixed.sample_window = lambda *args: window
    np.testing.assert_array_equal(fixed(dict(img=img.copy()))['img'],
                                  crop_resize_window(img, window, (64, 64))[0])


def test_without_boxes_and_float_images():
    results = dict(img=np.random.rand(50, 70, 3).astype(np.float32), img_shape=(50, 70))
    out = ZoomInRandomCrop(crop_size=40)(results)
    assert out['img'].shape == (40, 40, 3) and out['img'].dtype == np.float32
    assert 'gt_bboxes' not in out
    gray = dict(img=np.zeros((30, 30, 1), np.uint8))
    out = DataAnchorSampling(crop_size=40, pad_val=0)(dict(gray))
    assert out['img'].shape == (40, 40, 1)
    with pytest.raises(ValueError, match='pad_val has 3 values but the image has 1 channel'):
        DataAnchorSampling(crop_size=40)(dict(gray))  # the BGR default does not fit grey


def test_argument_errors():
    with pytest.raises(ValueError, match='crop_size must be a positive int'):
        ZoomInRandomCrop(crop_size=(10, 0))
    with pytest.raises(ValueError, match='ZoomInRandomCrop.min_gt_area must be >= 0'):
        ZoomInRandomCrop(min_gt_area=-1)
    with pytest.raises(ValueError, match='min_scale must be in'):
        ZoomInRandomCrop(min_scale=0)
    with pytest.raises(ValueError, match='anchor_sizes must be positive and ascending'):
        DataAnchorSampling(anchor_sizes=(32, 16))
    with pytest.raises(ValueError, match='does not transform masks'):
        ZoomInRandomCrop()(dict(img=np.zeros((8, 8, 3), np.uint8), gt_masks=object()))
    results = _results()
    results['gt_ignore_flags'] = np.zeros(2, bool)
    with pytest.raises(ValueError, match='3 gt_bboxes but 2 gt_ignore_flags'):
        ZoomInRandomCrop()(results)


def test_flip_twice_is_identity():
    flip = TRANSFORMS.build(dict(type='RandomFlip', prob=1.0))
    results = _results()
    original = results['img'].copy(), results['gt_bboxes'].numpy().copy()
    once = flip(results)
    assert not np.array_equal(once['img'], original[0])
    np.testing.assert_array_equal(once['gt_ignore_flags'], [False, False, True])
    twice = flip(once)
    np.testing.assert_array_equal(twice['img'], original[0])
    np.testing.assert_allclose(twice['gt_bboxes'].numpy(), original[1])
