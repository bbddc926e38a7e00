"""Build a mini SCUT-HEAD dataset in the released PASCAL-VOC-style layout (offline).

Example::

    python tools/dataset_converters/build_mini_scut_head.py --out data/mini_scut_head

A sanity dataset (scikit-image's LFW face crops on its photographs, labelled ``person``), not
a benchmark. Point the SCUT-HEAD config at it with
``--cfg-options data_root=data/mini_scut_head/`` or ``SCUT_HEAD_ROOT=data/mini_scut_head/``.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

from mmdet_rnnpool.datasets.mini_scut_head import build_mini_scut_head  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description='Write a mini SCUT-HEAD dataset.')
    parser.add_argument('--out', default='data/mini_scut_head', help='dataset root to write')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument('--num-images', type=int, default=20, help='images per part')
    args = parser.parse_args(argv)
    try:
        counts = build_mini_scut_head(args.out, seed=args.seed, num_images=args.num_images)
    except ValueError as e:
        sys.exit(f'build_mini_scut_head: {e}')
    for part, splits in counts.items():
        listed = ', '.join(f'{split} {n}' for split, n in splits.items())
        print(f'SCUT_HEAD_Part_{part}: {listed} images')
    print(f'Wrote {osp.abspath(args.out)} (a sanity dataset, not a benchmark).')


if __name__ == '__main__':
    main()
