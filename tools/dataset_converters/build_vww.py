"""Build Visual Wake Words from a COCO 2014 folder, as MMPretrain annotation files.

Example::

    python tools/dataset_converters/build_vww.py /data/coco \
        --minival-ids /data/coco/mscoco_minival_ids.txt --out data/vww

An image is ``person`` (1) when a ``person`` instance covers more than 0.5 % of its area,
``no_person`` (0) otherwise; the minival ids (TensorFlow's ``mscoco_minival_ids.txt``, all in
val2014) evaluate, every other train2014 + val2014 image trains. Writes ``meta/train.txt``,
``meta/val.txt`` (minival) and ``meta/classes.txt`` under ``--out`` and links ``train2014`` and
``val2014`` there; the VWW configs in ``configs/rnnpool_cls`` read it with
``--cfg-options data_root=<out>/``.
"""
import argparse
import os.path as osp
import sys
import time

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

from mmdet_rnnpool.datasets.visual_wake_words import (  # noqa: E402
    AREA_SOURCES, VWW_AREA_THRESHOLD, build_visual_wake_words)
from mmdet_rnnpool.utils.cli import run_cli  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Label COCO 2014 images by the Visual Wake Words rule and write the '
        'minival / train split as MMPretrain annotation files.')
    parser.add_argument('coco_root', help='COCO folder: annotations/instances_{train,val}2014'
                        '.json, train2014/, val2014/')
    parser.add_argument('--minival-ids', required=True,
                        help='the evaluation image ids, one a line (mscoco_minival_ids.txt)')
    parser.add_argument('--out', default='data/vww',
                        help='where to write meta/ and the image-folder links')
    parser.add_argument('--threshold', type=float, default=VWW_AREA_THRESHOLD,
                        help='fraction of the image area a person must exceed (VWW: 0.005)')
    parser.add_argument('--area-source', choices=AREA_SOURCES, default='annotation',
                        help="a person's area: COCO's 'area' field (as the released VWW "
                        "generator) or the box w*h")
    parser.add_argument('--no-check-images', action='store_true',
                        help='do not check that every listed image file exists')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    start = time.time()
    summary = build_visual_wake_words(args.coco_root, args.minival_ids, args.out,
                                      threshold=args.threshold, area_source=args.area_source,
                                      check_images=not args.no_check_images,
                                      progress=not args.quiet)
    print(f'Wrote Visual Wake Words to {osp.abspath(args.out)} in {time.time() - start:.1f} s:')
    for split, counts in summary.counts.items():
        total = sum(counts.values())
        name = 'val (minival)' if split == 'val' else split
        print(f'  {name}: {total} images, {counts["person"]} person, '
              f'{counts["no_person"]} no_person ({summary.ann_files[split]})')
    print('Train on it with  python tools/train.py CONFIG --cfg-options '
          f'data_root={osp.join(args.out, "")}')


if __name__ == '__main__':
    sys.exit(run_cli(main))
