"""Visual Wake Words (Chowdhery et al. 2019) from a COCO 2014 folder, as MMPretrain files.

The rule: an image is ``person`` (label 1) when at least one ``person`` instance covers more
than 0.5 % of the image area, ``no_person`` (label 0) otherwise. The split: COCO's "minival"
ids (the list the TensorFlow object-detection models evaluate on; all in ``val2014``) are the
evaluation set, every other ``train2014`` + ``val2014`` image (about 115 K) trains.

"Covers" is measured, by default, with each annotation's COCO ``area`` field, as the released
VWW generator (TensorFlow's ``build_visualwakewords_data``) does and so as the benchmark's
labels are; ``area_source='bbox'`` uses the box ``w * h`` instead (the wording of the paper).
Crowd annotations count, as in the released generator. See ``docs/fidelity.md``.

Input (the official COCO layout)::

    <coco_root>/annotations/instances_{train,val}2014.json
    <coco_root>/{train,val}2014/COCO_{train,val}2014_<id>.jpg

Output (read by ``mmpretrain.datasets.CustomDataset`` with ``data_root=<out_dir>``)::

    <out_dir>/meta/train.txt      train2014/COCO_train2014_000000000009.jpg 1
    <out_dir>/meta/val.txt        val2014/COCO_val2014_000000000042.jpg 0   (minival)
    <out_dir>/meta/classes.txt    no_person, person (one a line)
    <out_dir>/{train,val}2014     links to the COCO image folders
"""
import os.path as osp
import sys
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from .classification_ann_file import Sample, write_ann_file, write_class_names
from .coco_instances import CocoImage, load_coco_instances
from .source_links import link_source

#: Label order of the annotation files (label 1 = a person is present, as in VWW).
VWW_CLASSES = ('no_person', 'person')
#: The VWW rule's threshold on the fraction of the image area a person must cover.
VWW_AREA_THRESHOLD = 0.005
#: The category whose presence is detected.
VWW_FOREGROUND = 'person'
#: How an instance's area is measured: the COCO ``area`` field or the box ``w * h``.
AREA_SOURCES = ('annotation', 'bbox')
#: The split files under ``meta/``: ``val`` is minival (the name MMPretrain's configs use).
VWW_SPLITS = ('train', 'val')


def vww_label(image: CocoImage, person_id: int, threshold: float = VWW_AREA_THRESHOLD,
              area_source: str = 'annotation') -> int:
    """1 when some instance of ``person_id`` covers more than ``threshold`` of the image."""
    if area_source not in AREA_SOURCES:
        raise ValueError(f'area_source must be one of {AREA_SOURCES}, got {area_source!r}')
    image_area = float(image.width) * float(image.height)
    for obj in image.objects:
        if obj.category_id != person_id:
            continue
        area = obj.area if area_source == 'annotation' else obj.bbox[2] * obj.bbox[3]
        if area / image_area > threshold:
            return 1
    return 0


def read_minival_ids(path: str) -> List[int]:
    """Read an image-id list, one integer a line (blank lines and ``#`` comments skipped).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: ``path:line: ...`` for a line that is not an integer, or an empty list.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'minival id list not found: {path}')
    ids: List[int] = []
    seen = set()
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, 1):
            text = line.split('#', 1)[0].strip()
            if not text:
                continue
            try:
                image_id = int(text)
            except ValueError:
                raise ValueError(f'{path}:{number}: expected an image id (an integer), got '
                                 f'{text!r}') from None
            if image_id not in seen:  # a repeated id is the same image
                seen.add(image_id)
                ids.append(image_id)
    if not ids:
        raise ValueError(f'{path}: no image ids in the file')
    return ids


@dataclass
class VWWSummary:
    """What :func:`build_visual_wake_words` wrote.

    Args:
        out_dir (str): The dataset root.
        ann_files (dict): Split name -> annotation file.
        counts (dict): Split name -> ``{'no_person': n, 'person': n}``.
    """
    out_dir: str
    ann_files: Dict[str, str]
    counts: Dict[str, Dict[str, int]]


def _check_images(coco_root: str, folder: str, json_path: str, images: List[CocoImage],
                  bar) -> None:
    missing = []
    for image in images:
        if not osp.isfile(osp.join(coco_root, folder, image.file_name)):
            missing.append(image.file_name)
        if bar is not None:
            bar.update()
    if missing:
        raise FileNotFoundError(
            f'{len(missing)} of the {len(images)} images listed in {json_path} are not in '
            f'{osp.join(coco_root, folder)} (first: {missing[0]})')


def build_visual_wake_words(coco_root: str,
                            minival_ids_file: str,
                            out_dir: Optional[str] = None,
                            threshold: float = VWW_AREA_THRESHOLD,
                            area_source: str = 'annotation',
                            year: str = '2014',
                            check_images: bool = True,
                            progress: bool = True) -> VWWSummary:
    """Label every COCO image by the VWW rule and write the MMPretrain split files.

    Args:
        coco_root (str): The COCO folder (``annotations/``, ``train2014/``, ``val2014/``).
        minival_ids_file (str): The evaluation image ids, one a line (all in ``val<year>``).
        out_dir (str, optional): Where to write ``meta/`` and the image-folder links.
            Defaults to ``coco_root`` itself (then no links are needed).
        threshold (float): The area fraction a person must exceed. Defaults to 0.005.
        area_source (str): ``'annotation'`` (COCO ``area``, as the released generator) or
            ``'bbox'`` (box ``w * h``). Defaults to ``'annotation'``.
        year (str): The COCO release. Defaults to ``'2014'`` (the VWW definition).
        check_images (bool): Check that every listed image file exists. Defaults to True.
        progress (bool): Show a progress bar. Defaults to True.

    Returns:
        VWWSummary: The files written and the label counts per split.
    """
    if area_source not in AREA_SOURCES:
        raise ValueError(f'area_source must be one of {AREA_SOURCES}, got {area_source!r}')
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f'threshold must be in [0, 1), got {threshold}')
    if not osp.isdir(coco_root):
        raise FileNotFoundError(f'COCO folder not found: {coco_root}')
    out_dir = coco_root if out_dir is None else out_dir
    folders = (f'train{year}', f'val{year}')
    for folder in folders:
        if not osp.isdir(osp.join(coco_root, folder)):
            raise FileNotFoundError(f'COCO image folder not found: '
                                    f'{osp.join(coco_root, folder)}')
    json_paths = [osp.join(coco_root, 'annotations', f'instances_{folder}.json')
                  for folder in folders]
    for json_path in json_paths:  # fail before the long parse of the other file
        if not osp.isfile(json_path):
            raise FileNotFoundError(f'COCO annotation file not found: {json_path}')
    minival_ids = read_minival_ids(minival_ids_file)

    if progress:
        print(f'Reading {json_paths[0]} and {json_paths[1]} ...', flush=True)
    parts: List[Tuple[str, str, List[CocoImage], int]] = []
    for folder, json_path in zip(folders, json_paths):
        instances = load_coco_instances(json_path)
        person_id = instances.category_id(VWW_FOREGROUND)
        parts.append((folder, json_path, list(instances.images.values()), person_id))

    val_ids = {image.id for image in parts[1][2]}
    minival = set(minival_ids)
    not_in_val = [i for i in minival_ids if i not in val_ids]
    if not_in_val:
        raise ValueError(f'{minival_ids_file}: {len(not_in_val)} of its {len(minival_ids)} ids '
                         f'are not images of {json_paths[1]} (first: {not_in_val[0]})')

    bar = None
    total = sum(len(images) for _, _, images, _ in parts)
    if progress and total:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(total * (2 if check_images else 1), file=sys.stdout)
    if check_images:
        for folder, json_path, images, _ in parts:
            _check_images(coco_root, folder, json_path, images, bar)

    splits: Dict[str, List[Sample]] = {split: [] for split in VWW_SPLITS}
    for folder, _, images, person_id in parts:
        for image in sorted(images, key=lambda im: im.file_name):
            label = vww_label(image, person_id, threshold, area_source)
            split = 'val' if folder == folders[1] and image.id in minival else 'train'
            splits[split].append((f'{folder}/{image.file_name}', label))
            if bar is not None:
                bar.update()
    if bar is not None:
        print(flush=True)

    ann_files = {}
    for split, samples in splits.items():
        ann_files[split] = osp.join(out_dir, 'meta', f'{split}.txt')
        write_ann_file(ann_files[split], samples)
    write_class_names(osp.join(out_dir, 'meta', 'classes.txt'), VWW_CLASSES)
    for folder in folders:
        link_source(out_dir, folder, osp.join(coco_root, folder))
    counts = {
        split: {name: sum(1 for _, label in samples if label == index)
                for index, name in enumerate(VWW_CLASSES)}
        for split, samples in splits.items()
    }
    return VWWSummary(out_dir=out_dir, ann_files=ann_files, counts=counts)
