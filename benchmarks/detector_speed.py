"""PyTorch CPU inference speed of the RNNPool face detectors, per variant.

For each config: the network (backbone + head, :class:`DetectorLayers`) at batch 1 on the
paper's input (640 x 480 RGB; 320 x 240 grey for M4) unless ``--shape`` is given, with randomly
initialised weights (the network's speed does not depend on them), after a few warm-up runs.
``--predict`` also times the whole ``predict`` (+ anchor decoding and NMS); with random weights
nearly every anchor passes ``score_thr``, so that is NMS's worst case, not a trained model's.
Prints a markdown table of the median and fastest milliseconds, and images per second of the
fastest run (on a shared machine, other load only adds time).

Usage::

    python benchmarks/detector_speed.py [CONFIG ...] [--threads 2] [--warmup 3] [--runs 10]
                                        [--shape H W] [--predict]
"""
import argparse
import glob
import os.path as osp
import statistics
import sys
import time
from typing import Callable, List, Optional, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmdet_rnnpool  # noqa: E402,F401  (compat fixes + registration)
import torch  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

from mmdet_rnnpool.models.utils import (PAPER_FIGURES, DetectorLayers,  # noqa: E402
                                        variant_of_config)
from mmdet_rnnpool.utils.config_utils import load_config  # noqa: E402

CONFIG_GLOB = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs',
                       'rnnpool_face', 'rnnpool-face-*300e_widerface*.py')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='CPU inference speed per detector variant')
    parser.add_argument('configs', nargs='*',
                        help='configs (default: the paper recipe of each variant)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads (default: torch\'s choice)')
    parser.add_argument('--warmup', type=int, default=3, help='warm-up runs. Defaults to 3.')
    parser.add_argument('--runs', type=int, default=10, help='timed runs. Defaults to 10.')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input size (default: the paper\'s per variant)')
    parser.add_argument('--predict', action='store_true',
                        help='also time predict (decoding + NMS, worst case with random weights)')
    args = parser.parse_args(argv)
    if args.warmup < 0 or args.runs < 1:
        parser.error('--warmup must be >= 0 and --runs >= 1')
    return args


def time_seconds(fn: Callable[[], object], warmup: int, runs: int) -> Tuple[float, float]:
    """Median and minimum wall-clock seconds of ``fn()`` over ``runs`` calls after ``warmup``.

    The minimum is the better estimate on a shared machine (other load only adds time).
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def bench_config(path: str, args: argparse.Namespace) -> dict:
    """Time the layers and the full predict of one config's detector."""
    from mmdet.registry import MODELS
    from mmdet.structures import DetDataSample

    cfg = load_config(path)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = MODELS.build(cfg.model).eval()
    model.init_weights()
    variant = variant_of_config(path)
    paper_shape = PAPER_FIGURES.get(variant, {}).get('input_shape', (3, 480, 640))
    height, width = args.shape or paper_shape[1:]
    channels = getattr(model.backbone, 'in_channels', 3)
    image = torch.rand(1, channels, height, width)
    layers = DetectorLayers(model)
    sample = DetDataSample(metainfo=dict(
        img_shape=(height, width), ori_shape=(height, width), pad_shape=(height, width),
        scale_factor=(1., 1.), batch_input_shape=(height, width)))

    with torch.no_grad():
        layers_s = time_seconds(lambda: layers(image), args.warmup, args.runs)
        predict_s = time_seconds(lambda: model.predict(image, [sample], rescale=False),
                                 args.warmup, args.runs) if args.predict else None
    return dict(variant=variant or osp.basename(path), shape=(channels, height, width),
                layers_ms=[t * 1e3 for t in layers_s],
                predict_ms=None if predict_s is None else [t * 1e3 for t in predict_s])


def main(argv: Optional[List[str]] = None) -> List[dict]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    configs = args.configs or sorted(glob.glob(CONFIG_GLOB))
    results = [bench_config(path, args) for path in configs]
    print(f'PyTorch {torch.__version__} CPU, {torch.get_num_threads()} threads, batch 1, '
          f'{args.runs} runs after {args.warmup} warm-up runs; img/s from the fastest run')
    header = '| variant | input | network ms (median / min) | network img/s |'
    if args.predict:
        header += ' predict ms (median / min) | predict img/s |'
    print(header)
    print('|' + '---|' * (header.count('|') - 1))
    for r in results:
        c, h, w = r['shape']
        median, best = r['layers_ms']
        row = f"| {r['variant']} | {w}x{h}x{c} | {median:.1f} / {best:.1f} | {1e3 / best:.2f} |"
        if args.predict:
            median, best = r['predict_ms']
            row += f' {median:.1f} / {best:.1f} | {1e3 / best:.2f} |'
        print(row)
    return results


if __name__ == '__main__':
    main()
