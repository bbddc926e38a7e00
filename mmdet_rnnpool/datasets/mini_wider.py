"""Build a small face dataset in exactly the official WIDER FACE layout, offline.

The material is real and ships with scikit-image: the 100 face crops of
``skimage.data.lfw_subset()`` (Labeled Faces in the Wild, 25 x 25 grey) pasted onto real
photographs from ``skimage.data``. The result is a *sanity* dataset for smoke tests and the
demo, not a benchmark. Photographs that show a person (``astronaut``, ``camera``) or portraits
(``coins``) are not used as backgrounds: an unlabelled face would be a wrong negative.

Layout written under ``out_dir`` (as the official release)::

    WIDER_train/images/<event>/<name>.jpg
    WIDER_val/images/<event>/<name>.jpg
    wider_face_split/wider_face_train_bbx_gt.txt
    wider_face_split/wider_face_val_bbx_gt.txt
    eval_tools/ground_truth/wider_face_val.mat
    eval_tools/ground_truth/wider_{easy,medium,hard}_val.mat

and, with ``num_test > 0``, the test split as released (images and names only)::

    WIDER_test/images/<event>/<name>.jpg
    wider_face_split/wider_face_test_filelist.txt

Each image is generated from its own random stream seeded by ``(seed, split, index)``, so the
output depends only on the seed (and not on the number of images asked for).
"""
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import cv2
import numpy as np

from .wider_face_txt import WIDER_ATTRIBUTES, WiderFaceRecord, format_wider_bbx_gt

#: ``(event folder, scikit-image loader name)``; several events as in WIDER FACE.
MINI_WIDER_EVENTS = (
    ('0--Brick', 'brick'),
    ('1--Cat', 'chelsea'),
    ('2--Coffee', 'coffee'),
    ('3--Grass', 'grass'),
    ('4--Gravel', 'gravel'),
    ('5--Galaxy', 'hubble_deep_field'),
    ('6--Moon', 'moon'),
    ('7--Motorcycle', 'stereo_motorcycle'),
    ('8--Rocket', 'rocket'),
    ('9--Handwriting', 'text'),
)

#: Which of the 100 LFW faces each split may use (disjoint, so validation faces are unseen).
_SPLIT_FACES = {'train': range(0, 80), 'val': range(80, 100), 'test': range(80, 100)}
_SPLIT_CODES = {'train': 1, 'val': 2, 'test': 3}

#: Skin tones (R, G, B multipliers) that tint the grey LFW crops.
_SKIN_TONES = np.array([
    [1.00, 0.87, 0.77],
    [0.96, 0.80, 0.67],
    [0.87, 0.68, 0.53],
    [0.72, 0.53, 0.40],
    [0.55, 0.40, 0.30],
    [0.42, 0.30, 0.23],
], dtype=np.float32)


@dataclass
class MiniWiderConfig:
    """What the builder generates.

    Args:
        num_train (int): Images in ``WIDER_train``. Defaults to 300.
        num_val (int): Images in ``WIDER_val``. Defaults to 100.
        num_test (int): Images in ``WIDER_test`` (listed in
            ``wider_face_test_filelist.txt``, no annotations, as released). Defaults to 0.
        min_face (int): Smallest pasted face height in pixels. Defaults to 12.
        max_face (int): Largest pasted face height in pixels. Defaults to 200.
        max_faces_per_image (int): Most faces in one image. Defaults to 8.
        empty_prob (float): Probability of an image without faces. Defaults to 0.05.
        image_width (tuple[int, int]): Range of image widths. Defaults to (448, 640).
        aspect (tuple[float, float]): Range of height / width. Defaults to (0.6, 1.0).
        occlusion_prob (float): Probability that a face is partly covered. Defaults to 0.25.
        blur_prob (float): Probability that a face is blurred. Defaults to 0.2.
        jpeg_quality (int): JPEG quality of the written images. Defaults to 92.
    """
    num_train: int = 300
    num_val: int = 100
    num_test: int = 0
    min_face: int = 12
    max_face: int = 200
    max_faces_per_image: int = 8
    empty_prob: float = 0.05
    image_width: Tuple[int, int] = (448, 640)
    aspect: Tuple[float, float] = (0.6, 1.0)
    occlusion_prob: float = 0.25
    blur_prob: float = 0.2
    jpeg_quality: int = 92

    def __post_init__(self) -> None:
        if self.num_train < 0 or self.num_val < 0 or self.num_test < 0:
            raise ValueError('MiniWiderConfig: num_train, num_val and num_test must be >= 0, '
                             f'got {self.num_train}, {self.num_val} and {self.num_test}')
        if not 1 <= self.min_face <= self.max_face:
            raise ValueError('MiniWiderConfig: need 1 <= min_face <= max_face, got '
                             f'{self.min_face} and {self.max_face}')
        if self.max_face > self.image_width[0] * self.aspect[0]:
            raise ValueError(f'MiniWiderConfig: max_face={self.max_face} does not fit the '
                             f'smallest image ({self.image_width[0]} x aspect '
                             f'{self.aspect[0]})')
        if self.max_faces_per_image < 1:
            raise ValueError('MiniWiderConfig: max_faces_per_image must be >= 1')


@dataclass
class MiniWiderFace:
    """One pasted face: its box ``x y w h``, attributes and WIDER settings."""
    box: Tuple[int, int, int, int]
    attributes: Dict[str, int]
    settings: Tuple[str, ...] = field(default_factory=tuple)


@dataclass
class MiniWiderSummary:
    """What :func:`build_mini_wider` wrote.

    Args:
        out_dir (str): The dataset root.
        num_images (dict): Images per split.
        num_faces (dict): Faces per split (all, including invalid ones).
        num_val_settings (dict): Validation faces counted in easy / medium / hard.
    """
    out_dir: str
    num_images: Dict[str, int]
    num_faces: Dict[str, int]
    num_val_settings: Dict[str, int]


def wider_settings(height: float, occlusion: int, blur: int, invalid: int) -> Tuple[str, ...]:
    """Assign WIDER easy / medium / hard membership in the spirit of the official split.

    The official settings come from how hard a face was for EdgeBox proposals; here size,
    occlusion and blur decide. Like the official lists, hard includes medium includes easy;
    invalid faces belong to none (the evaluation ignores them).

    Args:
        height (float): The face box height in pixels.
        occlusion (int): 0 none, 1 partial (<= 30 %), 2 heavy.
        blur (int): 0 clear, 1 normal, 2 heavy.
        invalid (int): 1 for an unrecognisable face.

    Returns:
        tuple[str, ...]: A prefix-closed subset of ``('hard', 'medium', 'easy')``.
    """
    if invalid:
        return ()
    settings = ('hard', )
    if height >= 24 and occlusion <= 1 and blur <= 1:
        settings += ('medium', )
        if height >= 48 and occlusion == 0:
            settings += ('easy', )
    return settings


def load_material() -> Tuple[np.ndarray, List[Tuple[str, np.ndarray]]]:
    """Load the LFW faces (100 x 25 x 25, float 0..1) and the RGB backgrounds (shared with
    the mini SCUT-HEAD builder)."""
    from skimage import data as skdata

    faces = np.asarray(skdata.lfw_subset()[:100], dtype=np.float32)
    backgrounds = []
    for event, loader_name in MINI_WIDER_EVENTS:
        loader: Callable = getattr(skdata, loader_name)
        image = loader()
        if loader_name == 'stereo_motorcycle':
            image = image[0]  # (left, right, disparity)
        image = np.asarray(image)
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        image = image[..., :3]
        if image.dtype != np.uint8:
            image = np.clip(image / max(float(image.max()), 1e-6) * 255, 0, 255).astype(
                np.uint8)
        backgrounds.append((event, np.ascontiguousarray(image)))
    return faces, backgrounds


def _background(rng: np.random.Generator, photo: np.ndarray, width: int,
                height: int) -> np.ndarray:
    """Take a random crop of ``photo`` with the target aspect and resize it, in float RGB."""
    ph, pw = photo.shape[:2]
    aspect = height / width
    crop_w = pw if pw * aspect <= ph else ph / aspect
    crop_w *= rng.uniform(0.55, 1.0)
    crop_h = crop_w * aspect
    x0 = rng.uniform(0, pw - crop_w)
    y0 = rng.uniform(0, ph - crop_h)
    crop = photo[int(y0):int(y0 + crop_h), int(x0):int(x0 + crop_w)]
    canvas = cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32)
    if rng.random() < 0.5:
        canvas = canvas[:, ::-1]
    canvas *= rng.uniform(0.7, 1.2)
    return canvas


def _soft_mask(width: int, height: int) -> np.ndarray:
    """An elliptical alpha mask, 1 inside and feathered towards the box border."""
    ys = (np.arange(height, dtype=np.float32) + 0.5) / height * 2 - 1
    xs = (np.arange(width, dtype=np.float32) + 0.5) / width * 2 - 1
    radius = np.sqrt(ys[:, None]**2 + xs[None, :]**2 * 0.8)
    # Fully opaque to radius 0.8, fading to 0.35 opacity at the box corners.
    return np.clip(1.0 - (radius - 0.8) * 1.2, 0.35, 1.0)


def _paste_face(rng: np.random.Generator, canvas: np.ndarray, face: np.ndarray,
                box: Tuple[int, int, int, int], occluder: np.ndarray, blur_prob: float,
                occlusion_prob: float) -> Dict[str, int]:
    """Blend one tinted face into ``canvas`` (in place) and return its attributes."""
    x, y, w, h = box
    patch = cv2.resize(face, (w, h), interpolation=cv2.INTER_CUBIC)
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    brightness = rng.uniform(0.55, 1.35)
    illumination = int(brightness < 0.7 or brightness > 1.25)
    tone = _SKIN_TONES[rng.integers(len(_SKIN_TONES))] * rng.uniform(0.9, 1.1, size=3)
    rgb = patch[..., None] * tone[None, None, :] * 255 * brightness

    blur = 0
    if rng.random() < blur_prob and min(w, h) >= 16:
        blur = int(rng.integers(1, 3))
        sigma = (0.02 if blur == 1 else 0.045) * h
        rgb = cv2.GaussianBlur(rgb.astype(np.float32), (0, 0), sigma)

    alpha = _soft_mask(w, h)
    region = canvas[y:y + h, x:x + w]
    region[:] = alpha[..., None] * rgb + (1 - alpha[..., None]) * region

    occlusion, invalid = 0, 0
    if rng.random() < occlusion_prob:
        frac = rng.uniform(0.1, 0.65)
        side = int(rng.integers(4))  # which side of the face is covered
        oh, ow = occluder.shape[:2]
        cover = np.zeros((h, w), dtype=bool)
        if side == 0:
            cover[:, :max(1, int(round(w * frac)))] = True
        elif side == 1:
            cover[:, w - max(1, int(round(w * frac))):] = True
        elif side == 2:
            cover[h - max(1, int(round(h * frac))):, :] = True
        else:
            cover[:max(1, int(round(h * frac))), :] = True
        ox = int(rng.integers(0, max(1, ow - w)))
        oy = int(rng.integers(0, max(1, oh - h)))
        texture = cv2.resize(occluder[oy:oy + h, ox:ox + w].astype(np.float32), (w, h))
        region[cover] = texture[cover]
        covered = cover.mean()
        occlusion = 1 if covered <= 0.3 else 2
        invalid = int(covered > 0.55)
    return dict(blur=blur, expression=0, illumination=illumination, invalid=invalid,
                occlusion=occlusion, pose=0)


def _overlaps(box: Tuple[int, int, int, int], others: List[Tuple[int, int, int, int]],
              margin: int = 2) -> bool:
    x, y, w, h = box
    for ox, oy, ow, oh in others:
        if x < ox + ow + margin and ox < x + w + margin and \
                y < oy + oh + margin and oy < y + h + margin:
            return True
    return False


def generate_image(cfg: MiniWiderConfig, faces: np.ndarray,
                   backgrounds: List[Tuple[str, np.ndarray]], seed: int, split: str,
                   index: int) -> Tuple[str, np.ndarray, List[MiniWiderFace]]:
    """Generate one image from its own random stream.

    Args:
        cfg (MiniWiderConfig): The generation settings.
        faces (np.ndarray): ``(100, 25, 25)`` LFW crops in 0..1.
        backgrounds (list[tuple[str, np.ndarray]]): ``(event, RGB uint8 photo)`` pairs.
        seed (int): The dataset seed.
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        index (int): The image index within the split.

    Returns:
        tuple: ``(event, BGR uint8 image, faces)``.
    """
    rng = np.random.default_rng([seed, _SPLIT_CODES[split], index])
    event_id = index % len(backgrounds)  # events evenly covered
    event, photo = backgrounds[event_id]
    width = int(rng.integers(cfg.image_width[0], cfg.image_width[1] + 1))
    height = int(round(width * rng.uniform(*cfg.aspect)))
    canvas = _background(rng, photo, width, height)
    occluder = backgrounds[(event_id + 1 + int(rng.integers(len(backgrounds) - 1))) %
                           len(backgrounds)][1]

    num_faces = 0 if rng.random() < cfg.empty_prob else \
        int(min(cfg.max_faces_per_image, rng.geometric(0.35)))
    face_ids = list(_SPLIT_FACES[split])
    placed: List[MiniWiderFace] = []
    boxes: List[Tuple[int, int, int, int]] = []
    for _ in range(num_faces):
        max_h = max(cfg.min_face, min(cfg.max_face, int(0.8 * min(width, height))))
        face_h = int(round(np.exp(rng.uniform(np.log(cfg.min_face), np.log(max_h)))))
        face_w = max(cfg.min_face - 2, int(round(face_h * rng.uniform(0.78, 0.95))))
        for _trial in range(20):
            x = int(rng.integers(0, width - face_w + 1))
            y = int(rng.integers(0, height - face_h + 1))
            if not _overlaps((x, y, face_w, face_h), boxes):
                break
        else:
            continue
        face = faces[face_ids[int(rng.integers(len(face_ids)))]]
        attrs = _paste_face(rng, canvas, face, (x, y, face_w, face_h), occluder,
                            cfg.blur_prob, cfg.occlusion_prob)
        boxes.append((x, y, face_w, face_h))
        placed.append(
            MiniWiderFace(box=(x, y, face_w, face_h), attributes=attrs,
                          settings=wider_settings(face_h, attrs['occlusion'], attrs['blur'],
                                                  attrs['invalid'])))
    image = np.clip(canvas, 0, 255).astype(np.uint8)[..., ::-1]  # RGB -> BGR for cv2
    return event, np.ascontiguousarray(image), placed


def build_mini_wider(out_dir: str,
                     seed: int = 0,
                     cfg: Optional[MiniWiderConfig] = None,
                     progress: bool = True) -> MiniWiderSummary:
    """Write the mini WIDER FACE dataset under ``out_dir``.

    Args:
        out_dir (str): The dataset root (created if needed; existing files of the same name
            are overwritten).
        seed (int): The random seed; the same seed gives byte-identical images and text
            files. Defaults to 0.
        cfg (MiniWiderConfig, optional): What to generate. Defaults to
            ``MiniWiderConfig()`` (300 train and 100 val images).
        progress (bool): Show a progress bar. Defaults to True.

    Returns:
        MiniWiderSummary: Counts of what was written.
    """
    # Imported here so that parsing WIDER files does not need scipy.
    from mmdet_rnnpool.evaluation.functional.wider_ground_truth import (
        WiderGTImage, save_wider_ground_truth)

    cfg = cfg or MiniWiderConfig()
    faces, backgrounds = load_material()
    total = cfg.num_train + cfg.num_val + cfg.num_test
    bar = None
    if progress and total:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(total)

    num_images, num_faces = {}, {}
    val_settings = {'easy': 0, 'medium': 0, 'hard': 0}
    gt_images: List[WiderGTImage] = []
    splits = [('train', cfg.num_train), ('val', cfg.num_val)]
    if cfg.num_test:
        splits.append(('test', cfg.num_test))
    for split, count in splits:
        records: List[WiderFaceRecord] = []
        for index in range(count):
            event, image, placed = generate_image(cfg, faces, backgrounds, seed, split, index)
            event_no, event_name = event.split('--', 1)
            stem = f'{event_no}_{event_name}_mini_{split}_{index}'
            name = f'{event}/{stem}.jpg'
            image_dir = osp.join(out_dir, f'WIDER_{split}', 'images', event)
            os.makedirs(image_dir, exist_ok=True)
            if not cv2.imwrite(osp.join(image_dir, f'{stem}.jpg'), image,
                               [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality]):
                raise OSError(f'build_mini_wider: could not write {image_dir}/{stem}.jpg')
            boxes = np.array([f.box for f in placed], np.float32).reshape(-1, 4)
            attrs = np.array([[f.attributes[a] for a in WIDER_ATTRIBUTES] for f in placed],
                             np.int64).reshape(-1, 6)
            records.append(WiderFaceRecord(name=name, boxes=boxes, attributes=attrs))
            if split == 'val':
                settings = {
                    s: np.array([i + 1 for i, f in enumerate(placed) if s in f.settings],
                                np.int64)
                    for s in val_settings
                }
                for s, idx in settings.items():
                    val_settings[s] += len(idx)
                gt_images.append(WiderGTImage(event, stem, boxes, settings))
            if bar is not None:
                bar.update()
        # The official files list images event by event.
        records.sort(key=lambda r: (int(r.event.split('--')[0]), r.name))
        split_dir = osp.join(out_dir, 'wider_face_split')
        os.makedirs(split_dir, exist_ok=True)
        if split == 'test':  # released without boxes: a list of names
            with open(osp.join(split_dir, 'wider_face_test_filelist.txt'), 'w',
                      encoding='utf-8', newline='\n') as f:
                f.write(''.join(f'{r.name}\n' for r in records))
        else:
            with open(osp.join(split_dir, f'wider_face_{split}_bbx_gt.txt'), 'w',
                      encoding='utf-8', newline='\n') as f:
                f.write(format_wider_bbx_gt(records))
        num_images[split] = len(records)
        num_faces[split] = int(sum(len(r.boxes) for r in records))
    if bar is not None:
        print()

    gt_images.sort(key=lambda im: (int(im.event.split('--')[0]), im.name))
    save_wider_ground_truth(osp.join(out_dir, 'eval_tools', 'ground_truth'), gt_images)
    return MiniWiderSummary(out_dir=out_dir, num_images=num_images, num_faces=num_faces,
                            num_val_settings=val_settings)
