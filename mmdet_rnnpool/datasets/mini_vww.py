"""Build a small Visual Wake Words set offline, through the real VWW pipeline.

The builder writes a miniature COCO 2014 folder (``annotations/instances_{train,val}2014.json``,
``train2014/``, ``val2014/`` and a minival id list) and then runs the same conversion as real
COCO (:func:`~mmdet_rnnpool.datasets.visual_wake_words.build_visual_wake_words`), so the mini
set has exactly the layout and the labels-by-rule of the real one and the same configs read it.

The material is real and ships with scikit-image, as for the mini WIDER FACE: the 100 LFW face
crops (``skimage.data.lfw_subset()``) are the people, pasted onto the real photographs without
people (brick, cat, coffee, grass, ...). Each image is one of:

* ``person``: 1-3 faces, each covering well over the 0.5 % VWW threshold;
* ``no_person``: no face, or (sometimes) one face too small for the rule, annotated as a person
  but labelled 0 by the rule, as COCO's tiny background people are.

Either kind may carry *distractors*: patches of another photograph, grey and tinted with a skin
tone, pasted with the same soft mask as the faces, so that "something was pasted here" says
nothing about the label; only a face does. Faces 0-79 appear in the images that train, 80-99
only in minival. Every image comes from its own random stream seeded by
``(seed, folder, index)``: the output depends on the seed alone. A sanity set, not a benchmark.
"""
import json
import os
import os.path as osp
import sys
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from .mini_wider import _SKIN_TONES, _background, load_material, _soft_mask
from .visual_wake_words import VWW_AREA_THRESHOLD, VWWSummary, build_visual_wake_words

#: The COCO category of the pasted faces.
PERSON_CATEGORY = dict(id=1, name='person', supercategory='person')
#: Faces of images that train / of minival images (disjoint: minival faces are unseen).
_TRAIN_FACES = range(0, 80)
_MINIVAL_FACES = range(80, 100)
_FOLDER_CODES = {'train2014': 1, 'val2014': 2}
#: Image ids: COCO's are unique across train2014 and val2014, so are these.
_ID_OFFSET = {'train2014': 1, 'val2014': 500001}
MINIVAL_IDS_FILE = 'mscoco_minival_ids.txt'


@dataclass
class MiniVWWConfig:
    """What the builder generates.

    Args:
        num_train2014 (int): Images in ``train2014`` (all train). Defaults to 640.
        num_val2014 (int): Images in ``val2014``. Defaults to 320.
        num_minival (int): The first ``num_minival`` images of ``val2014`` form minival (the
            rest train, as in VWW). Defaults to 240.
        image_width (tuple[int, int]): Range of image widths. Defaults to (128, 192).
        aspect (tuple[float, float]): Range of height / width. Defaults to (0.75, 1.25).
        person_prob (float): Probability of an image with a person. Defaults to 0.5.
        small_person_prob (float): Probability that a no-person image holds one face below
            the area threshold. Defaults to 0.15.
        distractor_prob (float): Probability that an image holds 1-2 distractor patches.
            Defaults to 0.5.
        face_fraction (tuple[float, float]): Range of a face's height as a fraction of the
            image's shorter side. Defaults to (0.2, 0.55).
        jpeg_quality (int): JPEG quality. Defaults to 90.
    """
    num_train2014: int = 640
    num_val2014: int = 320
    num_minival: int = 240
    image_width: Tuple[int, int] = (128, 192)
    aspect: Tuple[float, float] = (0.75, 1.25)
    person_prob: float = 0.5
    small_person_prob: float = 0.15
    distractor_prob: float = 0.5
    face_fraction: Tuple[float, float] = (0.2, 0.55)
    jpeg_quality: int = 90

    def __post_init__(self) -> None:
        if min(self.num_train2014, self.num_val2014, self.num_minival) < 0:
            raise ValueError('MiniVWWConfig: image counts must be >= 0')
        if self.num_minival > self.num_val2014:
            raise ValueError(f'MiniVWWConfig: num_minival={self.num_minival} exceeds '
                             f'num_val2014={self.num_val2014} (minival is part of val2014)')
        if not self.image_width[0] >= 32:
            raise ValueError('MiniVWWConfig: images must be at least 32 px wide')
        low, high = self.face_fraction
        if not 0 < low <= high <= 0.9:
            raise ValueError('MiniVWWConfig: need 0 < face_fraction[0] <= face_fraction[1] '
                             f'<= 0.9, got {self.face_fraction}')
        # The smallest face must beat the rule in the smallest possible image.
        if 0.6 * low * low * 0.75 <= VWW_AREA_THRESHOLD:
            raise ValueError(f'MiniVWWConfig: face_fraction[0]={low} gives faces below the '
                             'VWW area threshold')
        for name in ('person_prob', 'small_person_prob', 'distractor_prob'):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f'MiniVWWConfig: {name} must be in [0, 1]')


def _paste(rng: np.random.Generator, canvas: np.ndarray, grey: np.ndarray,
           box: Tuple[int, int, int, int]) -> int:
    """Blend the grey patch, tinted with a skin tone, into ``canvas``; return the mask area."""
    x, y, w, h = box
    patch = cv2.resize(grey, (w, h), interpolation=cv2.INTER_CUBIC)
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    tone = _SKIN_TONES[rng.integers(len(_SKIN_TONES))] * rng.uniform(0.9, 1.1, size=3)
    rgb = patch[..., None] * tone[None, None, :] * 255 * rng.uniform(0.6, 1.3)
    alpha = _soft_mask(w, h)
    region = canvas[y:y + h, x:x + w]
    region[:] = alpha[..., None] * rgb + (1 - alpha[..., None]) * region
    return int((alpha > 0.5).sum())  # the 'segmentation' area COCO would store


def _place(rng: np.random.Generator, width: int, height: int, box_w: int, box_h: int,
           taken: List[Tuple[int, int, int, int]]) -> Optional[Tuple[int, int, int, int]]:
    for _ in range(20):
        x = int(rng.integers(0, width - box_w + 1))
        y = int(rng.integers(0, height - box_h + 1))
        if all(x >= ox + ow or ox >= x + box_w or y >= oy + oh or oy >= y + box_h
               for ox, oy, ow, oh in taken):
            return x, y, box_w, box_h
    return None


def generate_image(cfg: MiniVWWConfig, faces: np.ndarray,
                   backgrounds: List[Tuple[str, np.ndarray]], seed: int, folder: str,
                   index: int, minival: bool) -> Tuple[np.ndarray, List[dict]]:
    """One image (BGR uint8) and its COCO person annotations (without ids)."""
    rng = np.random.default_rng([seed, _FOLDER_CODES[folder], index])
    photo_id = int(rng.integers(len(backgrounds)))
    width = int(rng.integers(cfg.image_width[0], cfg.image_width[1] + 1))
    height = int(round(width * rng.uniform(*cfg.aspect)))
    canvas = _background(rng, backgrounds[photo_id][1], width, height)
    short = min(width, height)
    face_pool = list(_MINIVAL_FACES if minival else _TRAIN_FACES)
    taken: List[Tuple[int, int, int, int]] = []
    annotations: List[dict] = []

    def paste_face(face_h: int) -> None:
        face_w = max(4, int(round(face_h * rng.uniform(0.78, 0.95))))
        box = _place(rng, width, height, face_w, face_h, taken)
        if box is None:
            return
        face = faces[face_pool[int(rng.integers(len(face_pool)))]]
        area = _paste(rng, canvas, face, box)
        taken.append(box)
        annotations.append(dict(bbox=[float(v) for v in box], area=float(area), iscrowd=0,
                                category_id=PERSON_CATEGORY['id']))

    if rng.random() < cfg.person_prob:
        for _ in range(int(rng.integers(1, 4))):
            paste_face(int(round(short * rng.uniform(*cfg.face_fraction))))
        if not annotations:  # cannot happen for the first face in an empty canvas
            raise RuntimeError('mini VWW: could not place a face')
    elif rng.random() < cfg.small_person_prob:
        # A face whose box covers 0.1-0.4 % of the image: a person by annotation, below the
        # VWW threshold, so the rule labels the image no_person.
        face_h = int(np.sqrt(rng.uniform(0.001, 0.004) * width * height / 0.85))
        paste_face(max(4, face_h))
    if rng.random() < cfg.distractor_prob:
        for _ in range(int(rng.integers(1, 3))):
            other = backgrounds[(photo_id + 1 + int(rng.integers(len(backgrounds) - 1))) %
                                len(backgrounds)][1]
            d_h = int(round(short * rng.uniform(*cfg.face_fraction)))
            d_w = max(4, int(round(d_h * rng.uniform(0.78, 0.95))))
            box = _place(rng, width, height, d_w, d_h, taken)
            if box is None:
                continue
            oh, ow = other.shape[:2]
            size = int(rng.integers(25, min(oh, ow) // 2))
            oy, ox = int(rng.integers(0, oh - size)), int(rng.integers(0, ow - size))
            grey = cv2.cvtColor(other[oy:oy + size, ox:ox + size], cv2.COLOR_RGB2GRAY)
            _paste(rng, canvas, grey.astype(np.float32) / 255.0, box)
            taken.append(box)
    image = np.clip(canvas, 0, 255).astype(np.uint8)[..., ::-1]  # RGB -> BGR for cv2
    return np.ascontiguousarray(image), annotations


def build_mini_vww(out_dir: str,
                   seed: int = 0,
                   cfg: Optional[MiniVWWConfig] = None,
                   progress: bool = True) -> VWWSummary:
    """Write the mini COCO 2014 folder under ``out_dir`` and convert it to VWW in place.

    Args:
        out_dir (str): The dataset root (created if needed; files of the same name are
            overwritten).
        seed (int): The random seed; the same seed gives byte-identical files. Defaults to 0.
        cfg (MiniVWWConfig, optional): What to generate. Defaults to ``MiniVWWConfig()``.
        progress (bool): Show progress bars. Defaults to True.

    Returns:
        VWWSummary: What the VWW conversion wrote (``meta/train.txt``, ``meta/val.txt``).
    """
    cfg = cfg or MiniVWWConfig()
    faces, backgrounds = load_material()
    counts = {'train2014': cfg.num_train2014, 'val2014': cfg.num_val2014}
    bar = None
    if progress and sum(counts.values()):
        from mmengine.utils import ProgressBar
        print('Generating the mini COCO 2014 images ...', flush=True)
        bar = ProgressBar(sum(counts.values()), file=sys.stdout)
    annotation_id = 1
    minival_ids: List[int] = []
    for folder, count in counts.items():
        os.makedirs(osp.join(out_dir, folder), exist_ok=True)
        images: List[Dict] = []
        annotations: List[Dict] = []
        for index in range(count):
            image_id = _ID_OFFSET[folder] + index
            minival = folder == 'val2014' and index < cfg.num_minival
            image, objects = generate_image(cfg, faces, backgrounds, seed, folder, index,
                                            minival)
            file_name = f'COCO_{folder}_{image_id:012d}.jpg'
            path = osp.join(out_dir, folder, file_name)
            if not cv2.imwrite(path, image, [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality]):
                raise OSError(f'build_mini_vww: could not write {path}')
            images.append(dict(id=image_id, file_name=file_name, width=image.shape[1],
                               height=image.shape[0]))
            for obj in objects:
                annotations.append(dict(id=annotation_id, image_id=image_id, **obj))
                annotation_id += 1
            if minival:
                minival_ids.append(image_id)
            if bar is not None:
                bar.update()
        instances = dict(
            info=dict(description='mini COCO 2014 for Visual Wake Words (mmdet-rnnpool): '
                      'LFW faces from scikit-image on scikit-image photographs', seed=seed),
            images=images, annotations=annotations, categories=[PERSON_CATEGORY])
        os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
        with open(osp.join(out_dir, 'annotations', f'instances_{folder}.json'), 'w',
                  encoding='utf-8', newline='\n') as f:
            json.dump(instances, f, indent=1)
    if bar is not None:
        print(flush=True)
    with open(osp.join(out_dir, MINIVAL_IDS_FILE), 'w', encoding='utf-8', newline='\n') as f:
        f.writelines(f'{i}\n' for i in minival_ids)
    return build_visual_wake_words(out_dir, osp.join(out_dir, MINIVAL_IDS_FILE), out_dir,
                                   progress=progress)
