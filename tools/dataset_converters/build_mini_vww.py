"""Build the embedded mini Visual Wake Words set (offline, deterministic).

Example::

    python tools/dataset_converters/build_mini_vww.py --out data/mini_vww --seed 0

Writes a miniature COCO 2014 folder (real LFW faces from scikit-image pasted on real
scikit-image photographs, with person boxes in ``annotations/instances_*.json`` and a minival
id list) and converts it with the same code as real COCO
(``build_vww.py``), so it has the real set's layout. A sanity set, not a
benchmark.
"""
import argparse
import os.path as osp
import sys
import time

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

from mmdet_rnnpool.datasets.mini_vww import MiniVWWConfig, build_mini_vww  # noqa: E402
from mmdet_rnnpool.utils.cli import run_cli  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    defaults = MiniVWWConfig()
    parser = argparse.ArgumentParser(
        description='Write a mini Visual Wake Words set (COCO 2014 layout, converted) from the '
        'real face crops and photographs bundled with scikit-image.')
    parser.add_argument('--out', default='data/mini_vww', help='dataset root to write')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument('--num-train2014', type=int, default=defaults.num_train2014)
    parser.add_argument('--num-val2014', type=int, default=defaults.num_val2014)
    parser.add_argument('--num-minival', type=int, default=defaults.num_minival,
                        help='val2014 images that form minival (the rest train)')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    cfg = MiniVWWConfig(num_train2014=args.num_train2014, num_val2014=args.num_val2014,
                        num_minival=args.num_minival)
    start = time.time()
    summary = build_mini_vww(args.out, seed=args.seed, cfg=cfg, progress=not args.quiet)
    print(f'Wrote the mini Visual Wake Words set to {osp.abspath(args.out)} in '
          f'{time.time() - start:.1f} s:')
    for split, counts in summary.counts.items():
        print(f'  {split}: {counts["person"]} person, {counts["no_person"]} no_person')
    print('This is a sanity set, not a benchmark. Point a config at it with')
    print(f'  python tools/train.py CONFIG --cfg-options data_root={osp.join(args.out, "")}')


if __name__ == '__main__':
    sys.exit(run_cli(main))
