import numpy as np
import pytest
from scipy.io import loadmat, savemat

from mmdet_rnnpool.evaluation.functional import (WiderGTImage, load_wider_ground_truth,
                                                 save_wider_ground_truth)


def _images():
    return [
        WiderGTImage('0--Parade', '0_Parade_a', np.array([[1, 2, 3, 4], [5, 6, 7, 8]]),
                     dict(easy=[1], medium=[1, 2], hard=[2, 1])),
        WiderGTImage('1--Handshaking', '1_Handshaking_b', np.zeros((0, 4)),
                     dict(easy=[], medium=[], hard=[])),
        WiderGTImage('0--Parade', '0_Parade_c', [[1.5, 1, 10, 10]],
                     dict(easy=[], medium=[], hard=np.array([1]))),
    ]


def test_round_trip(tmp_path):
    images = _images()
    save_wider_ground_truth(str(tmp_path), images)
    loaded = load_wider_ground_truth(str(tmp_path))
    # events in order of first appearance, images in order within an event
    assert [im.key for im in loaded] == [
        '0--Parade/0_Parade_a', '0--Parade/0_Parade_c', '1--Handshaking/1_Handshaking_b'
    ]
    by_key = {im.key: im for im in loaded}
    for image in images:
        got = by_key[image.key]
        assert got.boxes.shape == image.boxes.shape
        np.testing.assert_array_equal(got.boxes, image.boxes)
        for setting in ('easy', 'medium', 'hard'):
            np.testing.assert_array_equal(got.settings[setting], image.settings[setting])
            assert got.settings[setting].dtype == np.int64


def test_official_structure(tmp_path):
    """The files index exactly like the official ones do after ``scipy.io.loadmat``."""
    save_wider_ground_truth(str(tmp_path), _images())
    val = loadmat(str(tmp_path / 'wider_face_val.mat'))
    hard = loadmat(str(tmp_path / 'wider_hard_val.mat'))
    assert val['event_list'].shape == (2, 1)
    assert str(val['event_list'][1][0][0]) == '1--Handshaking'
    assert val['file_list'][0][0].shape == (2, 1)
    assert str(val['file_list'][0][0][1][0][0]) == '0_Parade_c'
    np.testing.assert_array_equal(val['face_bbx_list'][0][0][0][0],
                                  [[1, 2, 3, 4], [5, 6, 7, 8]])
    assert val['face_bbx_list'][0][0][0][0].dtype == np.float64
    np.testing.assert_array_equal(hard['gt_list'][0][0][0][0], [[2], [1]])
    assert hard['gt_list'][1][0][0][0].size == 0


def test_invalid_images():
    with pytest.raises(ValueError, match='shape'):
        WiderGTImage('e', 'n', np.zeros((2, 5)), dict(easy=[], medium=[], hard=[]))
    with pytest.raises(ValueError, match='1..2'):
        WiderGTImage('e', 'n', np.zeros((2, 4)), dict(easy=[0], medium=[], hard=[]))
    with pytest.raises(ValueError, match='1..2'):
        WiderGTImage('e', 'n', np.zeros((2, 4)), dict(easy=[3], medium=[], hard=[]))
    with pytest.raises(ValueError, match='repeat'):
        WiderGTImage('e', 'n', np.zeros((2, 4)), dict(easy=[1, 1], medium=[], hard=[]))
    with pytest.raises(ValueError, match='keys'):
        WiderGTImage('e', 'n', np.zeros((2, 4)), dict(easy=[], medium=[]))
    with pytest.raises(ValueError, match='integers'):
        WiderGTImage('e', 'n', np.zeros((2, 4)), dict(easy=[1.5], medium=[], hard=[]))


def test_duplicate_image(tmp_path):
    image = _images()[0]
    with pytest.raises(ValueError, match='appears twice'):
        save_wider_ground_truth(str(tmp_path), [image, image])


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(FileNotFoundError, match='wider_face_val.mat'):
        load_wider_ground_truth(str(tmp_path))
    save_wider_ground_truth(str(tmp_path), _images())
    # a settings file with the wrong number of events
    gt_list = np.empty((1, 1), dtype=object)
    gt_list[0, 0] = np.empty((2, 1), dtype=object)
    gt_list[0, 0][0, 0] = np.ones((1, 1))
    gt_list[0, 0][1, 0] = np.ones((1, 1))
    savemat(str(tmp_path / 'wider_medium_val.mat'), dict(gt_list=gt_list))
    with pytest.raises(ValueError, match=r'wider_medium_val\.mat: gt_list has 1 events'):
        load_wider_ground_truth(str(tmp_path))
    savemat(str(tmp_path / 'wider_medium_val.mat'), dict(other=np.ones(1)))
    with pytest.raises(ValueError, match=r"wider_medium_val\.mat: missing variable 'gt_list'"):
        load_wider_ground_truth(str(tmp_path))
    (tmp_path / 'wider_face_val.mat').write_bytes(b'not a mat file')
    with pytest.raises(ValueError, match=r'wider_face_val\.mat: not a readable'):
        load_wider_ground_truth(str(tmp_path))


def test_index_out_of_range_in_file(tmp_path):
    save_wider_ground_truth(str(tmp_path), _images())
    hard = loadmat(str(tmp_path / 'wider_hard_val.mat'))
    hard['gt_list'][0][0][1][0] = np.array([[2.0]])  # 0_Parade_c has a single face
    savemat(str(tmp_path / 'wider_hard_val.mat'), dict(gt_list=hard['gt_list']))
    with pytest.raises(ValueError, match=r'wider_hard_val\.mat: 0--Parade/0_Parade_c.*1\.\.1'):
        load_wider_ground_truth(str(tmp_path))
