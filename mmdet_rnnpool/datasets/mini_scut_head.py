"""Build a small dataset in exactly SCUT-HEAD's released layout, offline.

A sanity dataset for tests, made like the mini WIDER FACE one
(:mod:`mmdet_rnnpool.datasets.mini_wider`): scikit-image's real LFW face crops pasted on
real photographs, each labelled ``person`` (SCUT-HEAD's class name for a head). Layout under
``out_dir``, for each part (``A``, ``B``)::

    SCUT_HEAD_Part_<P>/JPEGImages/Part<P>_<nnnnn>.jpg
    SCUT_HEAD_Part_<P>/Annotations/Part<P>_<nnnnn>.xml     (PASCAL VOC, 1-based pixels)
    SCUT_HEAD_Part_<P>/ImageSets/Main/{train,val,trainval,test}.txt

Each part's images are split 3 : 1 : 1 into train / val / test (trainval = train + val).
The same seed gives the same files.
"""
import os
import os.path as osp
from typing import Dict, Optional, Sequence
from xml.sax.saxutils import escape

import cv2

from .mini_wider import MiniWiderConfig, generate_image, load_material

SCUT_HEAD_PARTS = ('A', 'B')
_SPLITS = ('train', 'val', 'test')


def _split_of(index: int) -> str:
    return ('train', 'train', 'train', 'val', 'test')[index % 5]


def format_voc_xml(filename: str, width: int, height: int, boxes: Sequence) -> str:
    """One image's PASCAL VOC annotation with ``person`` boxes.

    Args:
        filename (str): The image file name.
        width (int): Image width.
        height (int): Image height.
        boxes (Sequence): ``x y w h`` in 0-based pixels; written as 1-based inclusive
            ``xmin ymin xmax ymax`` (VOC's convention).

    Returns:
        str: The XML text.
    """
    objects = ''.join(
        '\t<object>\n\t\t<name>person</name>\n\t\t<pose>Unspecified</pose>\n'
        '\t\t<truncated>0</truncated>\n\t\t<difficult>0</difficult>\n\t\t<bndbox>\n'
        f'\t\t\t<xmin>{int(x) + 1}</xmin>\n\t\t\t<ymin>{int(y) + 1}</ymin>\n'
        f'\t\t\t<xmax>{int(x) + int(w)}</xmax>\n\t\t\t<ymax>{int(y) + int(h)}</ymax>\n'
        '\t\t</bndbox>\n\t</object>\n' for x, y, w, h in boxes)
    return ('<annotation>\n\t<folder>JPEGImages</folder>\n'
            f'\t<filename>{escape(filename)}</filename>\n'
            f'\t<size>\n\t\t<width>{width}</width>\n\t\t<height>{height}</height>\n'
            '\t\t<depth>3</depth>\n\t</size>\n\t<segmented>0</segmented>\n'
            f'{objects}</annotation>\n')


def build_mini_scut_head(out_dir: str,
                         seed: int = 0,
                         num_images: int = 20,
                         parts: Sequence[str] = SCUT_HEAD_PARTS,
                         cfg: Optional[MiniWiderConfig] = None) -> Dict[str, Dict[str, int]]:
    """Write the mini SCUT-HEAD dataset.

    Args:
        out_dir (str): The folder that gets one ``SCUT_HEAD_Part_<P>`` folder per part.
        seed (int): The random seed. Defaults to 0.
        num_images (int): Images per part. Defaults to 20.
        parts (Sequence[str]): Which parts to write. Defaults to ``('A', 'B')``.
        cfg (MiniWiderConfig, optional): Image and face sizes (its ``num_*`` are unused).
            Defaults to ``MiniWiderConfig()``.

    Returns:
        dict: ``{part: {split: number of images}}`` (``trainval`` included).
    """
    if num_images < 0:
        raise ValueError(f'build_mini_scut_head: num_images must be >= 0, got {num_images}')
    unknown = set(parts) - set(SCUT_HEAD_PARTS)
    if unknown:
        raise ValueError(f'build_mini_scut_head: unknown part(s) {sorted(unknown)}; '
                         f'SCUT-HEAD has {SCUT_HEAD_PARTS}')
    cfg = cfg or MiniWiderConfig()
    faces, backgrounds = load_material()
    counts = {}
    for part_no, part in enumerate(parts):
        root = osp.join(out_dir, f'SCUT_HEAD_Part_{part}')
        for sub in ('JPEGImages', 'Annotations', osp.join('ImageSets', 'Main')):
            os.makedirs(osp.join(root, sub), exist_ok=True)
        lists = {split: [] for split in _SPLITS}
        for index in range(num_images):
            split = _split_of(index)
            # train heads come from the LFW faces of the mini WIDER train split, the others
            # from its val faces; every part and image has its own random stream
            _, image, placed = generate_image(cfg, faces, backgrounds, seed,
                                              'train' if split == 'train' else 'val',
                                              100000 * (part_no + 1) + index)
            image_id = f'Part{part}_{index:05d}'
            if not cv2.imwrite(osp.join(root, 'JPEGImages', f'{image_id}.jpg'), image,
                               [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality]):
                raise OSError(f'build_mini_scut_head: could not write {image_id}.jpg')
            height, width = image.shape[:2]
            with open(osp.join(root, 'Annotations', f'{image_id}.xml'), 'w',
                      encoding='utf-8') as f:
                f.write(format_voc_xml(f'{image_id}.jpg', width, height,
                                       [face.box for face in placed]))
            lists[split].append(image_id)
        lists['trainval'] = sorted(lists['train'] + lists['val'])
        for split, ids in lists.items():
            with open(osp.join(root, 'ImageSets', 'Main', f'{split}.txt'), 'w') as f:
                f.write(''.join(f'{image_id}\n' for image_id in ids))
        counts[part] = {split: len(ids) for split, ids in lists.items()}
    return counts
