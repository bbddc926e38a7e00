"""Build the embedded mini WIDER FACE dataset (official layout, offline, deterministic).

Example::

    python tools/dataset_converters/build_mini_wider.py --out data/mini_wider --seed 0

It is a sanity dataset made of the real LFW face crops that ship with scikit-image pasted on
real photographs; it is not a benchmark. Point any config at it (or at real WIDER FACE) with
``python tools/train.py CONFIG --cfg-options data_root=data/mini_wider/`` or
``WIDER_FACE_ROOT=data/mini_wider/ python tools/train.py CONFIG``.
"""
import argparse
import os.path as osp
import sys
import time

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

from mmdet_rnnpool.datasets.mini_wider import (MiniWiderConfig,  # noqa: E402
                                               build_mini_wider)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write a mini WIDER FACE dataset (official layout) from the real face '
        'crops and photographs bundled with scikit-image.')
    parser.add_argument('--out', default='data/mini_wider', help='dataset root to write')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument('--num-train', type=int, default=300, help='training images')
    parser.add_argument('--num-val', type=int, default=100, help='validation images')
    parser.add_argument('--num-test', type=int, default=0,
                        help='test-split images (WIDER_test + wider_face_test_filelist.txt)')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    try:
        cfg = MiniWiderConfig(num_train=args.num_train, num_val=args.num_val,
                              num_test=args.num_test)
    except ValueError as e:
        sys.exit(f'build_mini_wider: {e}')
    start = time.time()
    summary = build_mini_wider(args.out, seed=args.seed, cfg=cfg, progress=not args.quiet)
    root = osp.join(args.out, '')
    print(f'Wrote the mini WIDER FACE dataset to {osp.abspath(args.out)} in '
          f'{time.time() - start:.1f} s:')
    for split in summary.num_images:
        print(f'  WIDER_{split}: {summary.num_images[split]} images, '
              f'{summary.num_faces[split]} faces')
    settings = summary.num_val_settings
    print(f'  val faces per setting: easy {settings["easy"]}, medium {settings["medium"]}, '
          f'hard {settings["hard"]}')
    print('This is a sanity dataset, not a benchmark. Point a config at it with')
    print(f'  python tools/train.py CONFIG --cfg-options data_root={root}')
    print(f'or  WIDER_FACE_ROOT={root} python tools/train.py CONFIG')


if __name__ == '__main__':
    main()
