import os.path as osp

import numpy as np
import pytest

from mmdet_rnnpool.datasets.wider_face_txt import (WIDER_ATTRIBUTES, WiderFaceRecord,
                                                    format_wider_bbx_gt, parse_wider_bbx_gt,
                                                    parse_wider_filelist)

from wider_face_fixture import write_split_files


@pytest.fixture
def split_dir(tmp_path):
    return write_split_files(tmp_path / 'fixture')


def _write(tmp_path, text, name='wider_face_val_bbx_gt.txt'):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_parse_hand_written_file(split_dir):
    records = parse_wider_bbx_gt(osp.join(split_dir, 'wider_face_val_bbx_gt.txt'))
    assert [r.name for r in records] == [
        '0--Parade/0_Parade_marchingband_1_5.jpg', '1--Handshaking/1_Handshaking_2.jpg',
        '1--Handshaking/1_Handshaking_3.jpg'
    ]
    assert [r.line for r in records] == [1, 6, 9]
    assert records[0].event == '0--Parade'
    assert records[0].stem == '0_Parade_marchingband_1_5'
    np.testing.assert_array_equal(records[0].boxes,
                                  [[10, 20, 30, 40], [50, 60, 0, 10], [70, 10, 20, 25]])
    # Attributes keep the file's column order.
    assert WIDER_ATTRIBUTES == ('blur', 'expression', 'illumination', 'invalid', 'occlusion',
                                'pose')
    np.testing.assert_array_equal(records[0].attributes[2], [2, 1, 1, 1, 2, 1])
    # The zero-face image consumed its dummy line: the next record parsed normally.
    assert records[1].boxes.shape == (0, 4) and records[1].attributes.shape == (0, 6)
    assert len(records[2].boxes) == 2


def test_format_round_trip(tmp_path, split_dir):
    records = parse_wider_bbx_gt(osp.join(split_dir, 'wider_face_val_bbx_gt.txt'))
    text = format_wider_bbx_gt(records)
    assert '0 0 0 0 0 0 0 0 0 0' in text.splitlines()  # the dummy line is written back
    again = parse_wider_bbx_gt(_write(tmp_path, text))
    for a, b in zip(records, again):
        assert a.name == b.name
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.attributes, b.attributes)
    fractional = WiderFaceRecord('0--A/a.jpg', [[1.5, 2, 3, 4]], [[0] * 6])
    assert format_wider_bbx_gt([fractional]).splitlines()[2] == '1.5 2 3 4 0 0 0 0 0 0'


def test_zero_count_without_dummy_line_and_blank_tail(tmp_path):
    path = _write(tmp_path, 'a/x.jpg\n0\nb/y.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n\n\n')
    records = parse_wider_bbx_gt(path)
    assert [len(r.boxes) for r in records] == [0, 1]


@pytest.mark.parametrize('text, line, message', [
    ('a/x.jpg\n2\n1 2 3 4 0 0 0 0 0 0\n', 4, 'declares 2 faces'),
    ('a/x.jpg\n1\n1 2 3 4 0 0 0 0 0\n', 3, 'expected 10 numbers'),
    ('a/x.jpg\n1\n1 2 3 4 0 0 0 0 0 q\n', 3, 'integer attributes'),
    ('a/x.jpg\n1\n1 2 3 4 0 0 0 2 0 0\n', 3, 'invalid must be 0 or 1'),
    ('a/x.jpg\ntwo\n1 2 3 4 0 0 0 0 0 0\n', 2, 'face count'),
    ('a/x.jpg\n-1\n', 2, 'face count'),
    ('a/x.jpg\n', 1, 'file ends'),
    ('a/x.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n7\n', 4, 'image name'),
    ('a/x.jpg\n0\n0 0 5 0 0 0 0 0 0 0\n', 3, 'dummy line'),
    ('a/x.jpg\n1\n1 nan 3 4 0 0 0 0 0 0\n', 3, 'non-finite'),
])
def test_malformed_lines_name_file_and_line(tmp_path, text, line, message):
    path = _write(tmp_path, text)
    with pytest.raises(ValueError, match=message) as info:
        parse_wider_bbx_gt(path)
    assert f'{path}:{line}:' in str(info.value)


def test_error_uses_source_name(tmp_path):
    path = _write(tmp_path, 'a/x.jpg\nq\n')
    with pytest.raises(ValueError, match=r'^s3://bucket/gt.txt:2: '):
        parse_wider_bbx_gt(path, source='s3://bucket/gt.txt')


def test_filelist(tmp_path, split_dir):
    names = parse_wider_filelist(osp.join(split_dir, 'wider_face_test_filelist.txt'))
    assert names == ['0--Parade/0_Parade_marchingband_1_5.jpg',
                     '1--Handshaking/1_Handshaking_2.jpg']
    path = _write(tmp_path, 'a/x.jpg\n3\n', 'wider_face_test_filelist.txt')
    with pytest.raises(ValueError, match=f'{path}:2: expected an image name'):
        parse_wider_filelist(path)


def test_record_checks_lengths():
    with pytest.raises(ValueError, match='2 boxes but 1 attribute rows'):
        WiderFaceRecord('a/x.jpg', np.zeros((2, 4)), np.zeros((1, 6)))
