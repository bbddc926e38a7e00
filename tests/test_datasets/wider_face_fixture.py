"""A hand-written annotation file in the official WIDER FACE format, shared by the dataset
tests (kept as text here: the repository ignores every ``data/`` folder)."""
import os

#: Three images: three faces (a clean one, a zero-width one, an invalid one with every
#: attribute set), the zero-face case with its dummy line, and two small faces.
VAL_BBX_GT = (
    '0--Parade/0_Parade_marchingband_1_5.jpg\n'
    '3\n'
    '10 20 30 40 0 0 0 0 0 0 \n'
    '50 60 0 10 1 0 0 0 0 0 \n'
    '70 10 20 25 2 1 1 1 2 1 \n'
    '1--Handshaking/1_Handshaking_2.jpg\n'
    '0\n'
    '0 0 0 0 0 0 0 0 0 0 \n'
    '1--Handshaking/1_Handshaking_3.jpg\n'
    '2\n'
    '5 5 8 9 0 0 0 0 1 0 \n'
    '30 4 3 12 0 1 0 0 0 0 \n')

TEST_FILELIST = ('0--Parade/0_Parade_marchingband_1_5.jpg\n'
                 '1--Handshaking/1_Handshaking_2.jpg\n')


def write_split_files(root) -> str:
    """Write ``wider_face_split/`` with both files under ``root`` and return its path."""
    split_dir = os.path.join(str(root), 'wider_face_split')
    os.makedirs(split_dir, exist_ok=True)
    with open(os.path.join(split_dir, 'wider_face_val_bbx_gt.txt'), 'w') as f:
        f.write(VAL_BBX_GT)
    with open(os.path.join(split_dir, 'wider_face_test_filelist.txt'), 'w') as f:
        f.write(TEST_FILELIST)
    return split_dir
