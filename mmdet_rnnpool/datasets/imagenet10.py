"""ImageNet-10 (the paper's Table 6) from ImageNet folders on disk, as MMPretrain files.

Ten synsets matching CIFAR-10's classes, 1300 training and 50 validation images each. Nine
are ImageNet-1K classes and come from its ``train/`` and ``val/`` folders; ``n02430045``
(deer) exists only in ImageNet-22K, so its folder is a separate input. It has no official
validation split: 50 of its images, drawn with a fixed seed, validate and up to 1300 of the
rest train (our choice; see ``docs/fidelity.md``).

ImageNet-1K input, either validation layout::

    <imagenet_root>/train/<wnid>/*.JPEG
    <imagenet_root>/val/<wnid>/*.JPEG                 (validation sorted into synset folders)
    <imagenet_root>/val/ILSVRC2012_val_*.JPEG + labels (flat, with MMPretrain's
        meta/val.txt "<file> <index>", indices in the sorted order of the 1000 train synsets,
        or Kaggle's LOC_val_solution.csv "ImageId,<wnid> x y x y ...")

Output (read by ``mmpretrain.datasets.CustomDataset`` with ``data_root=<out_dir>``)::

    <out_dir>/meta/train.txt     imagenet/train/n02690373/n02690373_1000.JPEG 0
    <out_dir>/meta/val.txt       deer/n02430045_123.JPEG 4
    <out_dir>/meta/classes.txt   the ten class names, in label order
    <out_dir>/imagenet -> <imagenet_root>,  <out_dir>/deer -> <deer_dir>
"""
import csv
import os
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from .classification_ann_file import Sample, write_ann_file, write_class_names
from .source_links import link_source

#: ``(wnid, name)`` in label order (Table 6's order).
IMAGENET10_SYNSETS = (
    ('n02690373', 'airliner'),
    ('n04285008', 'sports car'),
    ('n01560419', 'bulbul'),
    ('n02124075', 'Egyptian cat'),
    ('n02430045', 'deer'),
    ('n02099601', 'golden retriever'),
    ('n01641577', 'bullfrog'),
    ('n03538406', 'horse cart'),
    ('n03673027', 'ocean liner'),
    ('n04467665', 'trailer truck'),
)
IMAGENET10_CLASSES = tuple(name for _, name in IMAGENET10_SYNSETS)
#: The synset that is not in ImageNet-1K (it comes from ImageNet-22K).
DEER_WNID = 'n02430045'
#: Images per class in the paper's ImageNet-10.
IMAGENET10_TRAIN_PER_CLASS = 1300
IMAGENET10_VAL_PER_CLASS = 50

_IMAGE_SUFFIXES = ('.jpeg', '.jpg', '.png')


def list_images(folder: str) -> List[str]:
    """The image file names directly in ``folder``, sorted."""
    return sorted(name for name in os.listdir(folder)
                  if name.lower().endswith(_IMAGE_SUFFIXES)
                  and osp.isfile(osp.join(folder, name)))


def read_val_labels(path: str, train_dir: str) -> Dict[str, str]:
    """Map validation file names to synsets from a label file.

    ``*.csv``: Kaggle's ``LOC_val_solution.csv`` (``ImageId,PredictionString`` whose first
    token is the synset). Otherwise MMPretrain's ``meta/val.txt`` (``<file> <index>``), whose
    indices follow the sorted order of the 1000 synset folders of ``train_dir``.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: ``path:line: ...`` for a malformed line or an index out of range.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'validation label file not found: {path}')
    labels: Dict[str, str] = {}
    if path.lower().endswith('.csv'):
        with open(path, newline='', encoding='utf-8') as f:
            for number, row in enumerate(csv.reader(f), 1):
                if number == 1 and row and row[0] == 'ImageId':
                    continue
                if len(row) < 2 or not row[1].split():
                    raise ValueError(f'{path}:{number}: expected "ImageId,<wnid> ...", got '
                                     f'{",".join(row)!r}')
                labels[row[0] + '.JPEG'] = row[1].split()[0]
        return labels
    wnids = sorted(name for name in os.listdir(train_dir)
                   if osp.isdir(osp.join(train_dir, name)))
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            parts = line.rsplit(' ', 1)
            if len(parts) != 2 or not parts[1].isdigit():
                raise ValueError(f'{path}:{number}: expected "<file> <class index>", got '
                                 f'{line!r}')
            index = int(parts[1])
            if index >= len(wnids):
                raise ValueError(
                    f'{path}:{number}: class index {index}, but {train_dir} has '
                    f'{len(wnids)} synset folders (the indices follow the sorted 1000 '
                    'ImageNet-1K synsets: the full train/ tree is needed to map them)')
            labels[osp.basename(parts[0])] = wnids[index]
    return labels


@dataclass
class ImageNet10Summary:
    """What :func:`build_imagenet10` wrote: files and ``{class name: (train, val)}`` counts."""
    out_dir: str
    ann_files: Dict[str, str]
    counts: Dict[str, Tuple[int, int]]
    warnings: List[str]


def _split_deer(deer_dir: str, seed: int, num_val: int,
                max_train: int) -> Tuple[List[str], List[str]]:
    names = list_images(deer_dir)
    if len(names) <= num_val:
        raise ValueError(f'{deer_dir}: {len(names)} images of {DEER_WNID} (deer), need more '
                         f'than {num_val} ({num_val} validate, the rest train)')
    order = np.random.default_rng(seed).permutation(len(names))
    val = sorted(names[i] for i in order[:num_val])
    train = sorted(names[i] for i in order[num_val:num_val + max_train])
    return train, val


def build_imagenet10(imagenet_root: str,
                     deer_dir: Optional[str],
                     out_dir: str,
                     val_labels: Optional[str] = None,
                     seed: int = 0,
                     max_train: int = IMAGENET10_TRAIN_PER_CLASS,
                     num_deer_val: int = IMAGENET10_VAL_PER_CLASS) -> ImageNet10Summary:
    """Write ImageNet-10's MMPretrain annotation files and the links to the image folders.

    Args:
        imagenet_root (str): The ImageNet-1K folder (``train/``, ``val/``).
        deer_dir (str, optional): The folder of ``n02430045`` images from ImageNet-22K.
            Defaults to None: then ``<imagenet_root>/train/n02430045`` if it exists.
        out_dir (str): Where to write ``meta/`` and the links.
        val_labels (str, optional): Labels of a flat ``val/`` folder (see
            :func:`read_val_labels`). Defaults to ``<imagenet_root>/meta/val.txt`` when
            ``val/`` is flat.
        seed (int): Seed of the deer train / validation draw (and of the cap below).
            Defaults to 0.
        max_train (int): Most training images per class. Defaults to 1300 (ImageNet-1K's
            largest class; the paper's count).
        num_deer_val (int): Deer images that validate. Defaults to 50.

    Raises:
        FileNotFoundError: A missing folder (the deer one named with its synset).
        ValueError: Bad labels, too few deer images.
    """
    train_dir = osp.join(imagenet_root, 'train')
    val_dir = osp.join(imagenet_root, 'val')
    for folder in (train_dir, val_dir):
        if not osp.isdir(folder):
            raise FileNotFoundError(f'ImageNet folder not found: {folder}')
    if deer_dir is None:
        deer_dir = osp.join(train_dir, DEER_WNID)
        if not osp.isdir(deer_dir):
            raise FileNotFoundError(
                f'{DEER_WNID} (deer) is not part of ImageNet-1K and is not in {train_dir}: '
                'pass its ImageNet-22K image folder with --deer-dir')
    elif not osp.isdir(deer_dir):
        raise FileNotFoundError(f'deer folder ({DEER_WNID}, from ImageNet-22K) not found: '
                                f'{deer_dir}')
    for wnid, name in IMAGENET10_SYNSETS:
        if wnid != DEER_WNID and not osp.isdir(osp.join(train_dir, wnid)):
            raise FileNotFoundError(f'synset {wnid} ({name}) not found: '
                                    f'{osp.join(train_dir, wnid)}')

    # Validation of the nine ImageNet-1K synsets: synset folders, or a flat folder + labels.
    sorted_val = all(osp.isdir(osp.join(val_dir, wnid))
                     for wnid, _ in IMAGENET10_SYNSETS if wnid != DEER_WNID)
    flat_val: Dict[str, List[str]] = {}
    if not sorted_val:
        if val_labels is None:
            val_labels = osp.join(imagenet_root, 'meta', 'val.txt')
            if not osp.isfile(val_labels):
                raise FileNotFoundError(
                    f'{val_dir} has no synset folders and no label file was given: pass '
                    f'--val-labels (MMPretrain meta/val.txt or LOC_val_solution.csv)')
        labels = read_val_labels(val_labels, train_dir)
        present = set(list_images(val_dir))
        for name, wnid in labels.items():
            if name in present:
                flat_val.setdefault(wnid, []).append(name)

    rng = np.random.default_rng(seed)
    train: List[Sample] = []
    val: List[Sample] = []
    counts: Dict[str, Tuple[int, int]] = {}
    warnings: List[str] = []
    for label, (wnid, name) in enumerate(IMAGENET10_SYNSETS):
        if wnid == DEER_WNID:
            train_names, val_names = _split_deer(deer_dir, seed, num_deer_val, max_train)
            train += [(f'deer/{n}', label) for n in train_names]
            val += [(f'deer/{n}', label) for n in val_names]
        else:
            train_names = list_images(osp.join(train_dir, wnid))
            if len(train_names) > max_train:
                keep = np.sort(rng.permutation(len(train_names))[:max_train])
                train_names = [train_names[i] for i in keep]
            train += [(f'imagenet/train/{wnid}/{n}', label) for n in train_names]
            if sorted_val:
                val_names = list_images(osp.join(val_dir, wnid))
                val += [(f'imagenet/val/{wnid}/{n}', label) for n in val_names]
            else:
                val_names = sorted(flat_val.get(wnid, []))
                val += [(f'imagenet/val/{n}', label) for n in val_names]
        if not train_names or not val_names:
            raise ValueError(f'synset {wnid} ({name}): {len(train_names)} training and '
                             f'{len(val_names)} validation images found, need both')
        if len(train_names) != IMAGENET10_TRAIN_PER_CLASS or \
                len(val_names) != IMAGENET10_VAL_PER_CLASS:
            warnings.append(f'{wnid} ({name}): {len(train_names)} train / {len(val_names)} '
                            f'val images (the paper has {IMAGENET10_TRAIN_PER_CLASS} / '
                            f'{IMAGENET10_VAL_PER_CLASS})')
        counts[name] = (len(train_names), len(val_names))

    ann_files = {'train': osp.join(out_dir, 'meta', 'train.txt'),
                 'val': osp.join(out_dir, 'meta', 'val.txt')}
    write_ann_file(ann_files['train'], train)
    write_ann_file(ann_files['val'], val)
    write_class_names(osp.join(out_dir, 'meta', 'classes.txt'), IMAGENET10_CLASSES)
    link_source(out_dir, 'imagenet', imagenet_root)
    link_source(out_dir, 'deer', deer_dir)
    return ImageNet10Summary(out_dir=out_dir, ann_files=ann_files, counts=counts,
                             warnings=warnings)
