import numpy as np
import pytest

from mmdet_rnnpool.evaluation.functional import (image_key_from_path, read_wider_prediction_file,
                                                 read_wider_predictions, write_wider_predictions)


def test_image_key_from_path():
    assert image_key_from_path('/d/WIDER_val/images/0--Parade/0_Parade_x_1.jpg') == \
        '0--Parade/0_Parade_x_1'
    assert image_key_from_path('0--Parade/a.b.png') == '0--Parade/a.b'
    with pytest.raises(ValueError, match='<event>/<image file>'):
        image_key_from_path('lonely.jpg')


def test_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(1)
    preds = {
        '0--Parade/a': np.concatenate(
            [rng.random((3, 4)).astype(np.float32) * 300, rng.random((3, 1))], 1),
        '0--Parade/b': np.zeros((0, 5)),
        '1--Handshaking/c': np.array([[1, 2, 3, 4, 0.5]]),
    }
    write_wider_predictions(str(tmp_path), preds)
    text = (tmp_path / '1--Handshaking' / 'c.txt').read_text().splitlines()
    assert text[0] == 'c' and text[1] == '1'
    assert [float(v) for v in text[2].split()] == [1, 2, 3, 4, 0.5]
    assert (tmp_path / '0--Parade' / 'b.txt').read_text() == 'b\n0\n'
    read = read_wider_predictions(str(tmp_path))
    assert sorted(read) == sorted(preds)
    for key, value in preds.items():
        assert read[key].shape == (len(value), 5)
        np.testing.assert_array_equal(read[key], value)  # bit-exact


@pytest.mark.parametrize('content, message', [
    ('a\n', r': expected a name line and a count line'),
    ('a\nthree\n', r':2: expected the number of boxes'),
    ('a\n-1\n', r':2: the number of boxes must be >= 0'),
    ('a\n2\n1 2 3 4 0.5\n', r': line 2 announces 2 boxes but only 1'),
    ('a\n2\n1 2 3 4 0.5\n1 2 3 4\n', r':4: expected 5 values'),
    ('a\n1\n1 2 x 4 0.5\n', r":3: non-numeric value in '1 2 x 4 0.5'"),
    ('a\n1\n1 2 3 4 nan\n', r':3: non-finite'),
    ('a\n1\n1 2 3 4 0.5\n5 6 7 8 0.1\n', r':4: unexpected content after the 1'),
])
def test_line_numbered_errors(tmp_path, content, message):
    path = tmp_path / 'a.txt'
    path.write_text(content)
    with pytest.raises(ValueError, match=str(path).replace('.', r'\.') + message):
        read_wider_prediction_file(str(path))


def test_trailing_blank_lines_and_spacing(tmp_path):
    path = tmp_path / 'a.txt'
    path.write_text('0--Parade/a.jpg\n 2 \n1 2 3 4 0.5 \n  5\t6 7 8 0.25\n\n')
    np.testing.assert_array_equal(read_wider_prediction_file(str(path)),
                                  [[1, 2, 3, 4, 0.5], [5, 6, 7, 8, 0.25]])


def test_folder_layout_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='prediction folder not found'):
        read_wider_predictions(str(tmp_path / 'missing'))
    (tmp_path / 'stray.txt').write_text('a\n0\n')
    with pytest.raises(ValueError, match=r'stray\.txt: prediction files must be inside'):
        read_wider_predictions(str(tmp_path))
    with pytest.raises(ValueError, match='must be "<event>/<name>"'):
        write_wider_predictions(str(tmp_path), {'no_event': np.zeros((0, 5))})
