"""Build ImageNet-10 (the paper's Table 6) from ImageNet folders, as MMPretrain annotation files.

Example::

    python tools/dataset_converters/build_imagenet10.py /data/imagenet \
        --deer-dir /data/imagenet22k/n02430045 --out data/imagenet10

Nine of the ten synsets come from ImageNet-1K (``train/<wnid>/``; ``val/<wnid>/`` or a flat
``val/`` with ``--val-labels``); ``n02430045`` (deer) is only in ImageNet-22K, so its image
folder is ``--deer-dir``. Writes ``meta/train.txt``, ``meta/val.txt`` and ``meta/classes.txt``
under ``--out`` and links ``imagenet`` and ``deer`` there; the ImageNet-10 configs in
``configs/rnnpool_cls`` read it with ``--cfg-options data_root=<out>/``.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

from mmdet_rnnpool.datasets.imagenet10 import (  # noqa: E402
    IMAGENET10_TRAIN_PER_CLASS, IMAGENET10_VAL_PER_CLASS, build_imagenet10)
from mmdet_rnnpool.utils.cli import run_cli  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write ImageNet-10 (airliner, sports car, bulbul, Egyptian cat, deer, '
        'golden retriever, bullfrog, horse cart, ocean liner, trailer truck) as MMPretrain '
        'annotation files.')
    parser.add_argument('imagenet_root', help='ImageNet-1K folder with train/ and val/')
    parser.add_argument('--deer-dir', help='folder of the n02430045 (deer) images from '
                        'ImageNet-22K (not part of ImageNet-1K)')
    parser.add_argument('--out', default='data/imagenet10',
                        help='where to write meta/ and the links')
    parser.add_argument('--val-labels', help='labels of a flat val/ folder: MMPretrain '
                        'meta/val.txt or Kaggle LOC_val_solution.csv (default: '
                        '<imagenet_root>/meta/val.txt)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the deer train / validation draw')
    parser.add_argument('--max-train', type=int, default=IMAGENET10_TRAIN_PER_CLASS,
                        help='most training images per class')
    parser.add_argument('--deer-val', type=int, default=IMAGENET10_VAL_PER_CLASS,
                        help='deer images that validate')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    summary = build_imagenet10(args.imagenet_root, args.deer_dir, args.out,
                               val_labels=args.val_labels, seed=args.seed,
                               max_train=args.max_train, num_deer_val=args.deer_val)
    print(f'Wrote ImageNet-10 to {osp.abspath(args.out)}:')
    for name, (train, val) in summary.counts.items():
        print(f'  {name}: {train} train, {val} val')
    for warning in summary.warnings:
        print(f'  warning: {warning}')
    print('Train on it with  python tools/train.py CONFIG --cfg-options '
          f'data_root={osp.join(args.out, "")}')


if __name__ == '__main__':
    sys.exit(run_cli(main))
