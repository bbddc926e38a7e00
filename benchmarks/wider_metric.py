"""Time the WIDER FACE evaluation at the size of the real validation split.

    python benchmarks/wider_metric.py [--images 3226] [--boxes 750] [--seed 0] [--skip-io]

Generates ``--images`` images over 61 events with a heavy-tailed number of faces (about 12 per
image on average, like WIDER val's 39,708 faces in 3,226 images, a few with hundreds) and
``--boxes`` predictions per image (a third jittered copies of faces, the rest random), stores
the ground truth as the official .mat files, and times each stage: the functional core (both
views), ``WIDERFaceMetric.compute_metrics`` including the PR-curve PNG, and the official text
files written, read back and re-evaluated (which must give the same APs). Prints a table.
"""
import argparse
import os.path as osp
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmdet_rnnpool.evaluation.functional import (  # noqa: E402
    WIDER_SETTINGS, WiderGTImage, evaluate_wider, load_wider_ground_truth,
    read_wider_predictions, save_wider_ground_truth, write_wider_predictions)
from mmdet_rnnpool.evaluation.metrics import WIDERFaceMetric  # noqa: E402


def make_dataset(num_images: int, num_boxes: int, seed: int):
    """Random ground truth and predictions shaped like WIDER val at top-``num_boxes``."""
    rng = np.random.default_rng(seed)
    gt_images, predictions = [], {}
    for i in range(num_images):
        event = f'{i % 61}--Event{i % 61}'
        num_faces = min(int(rng.lognormal(1.9, 1.1)), 1000)
        size = rng.lognormal(3.0, 0.9, (num_faces, 1)).clip(2, 600)
        xy = rng.uniform(0, 1024, (num_faces, 2))
        boxes = np.concatenate([xy, size, size * rng.uniform(1.0, 1.4, (num_faces, 1))], 1)
        # like the real settings: easy lists the large faces, hard all but the tiniest
        settings = {
            setting: np.nonzero(size[:, 0] >= min_size)[0] + 1
            for setting, min_size in (('easy', 50), ('medium', 25), ('hard', 8))
        }
        gt_images.append(WiderGTImage(event, f'img_{i}', boxes, settings))
        num_near = min(num_boxes // 3, 4 * num_faces)
        near = boxes[rng.integers(0, num_faces, num_near)] if num_faces else np.zeros((0, 4))
        near = near + rng.normal(0, 1, near.shape) * near[:, 2:3] * 0.1
        far_xy = rng.uniform(0, 1024, (num_boxes - len(near), 2))
        far = np.concatenate([far_xy, rng.uniform(4, 200, (len(far_xy), 2))], 1)
        scores = np.concatenate([rng.uniform(0.3, 1.0, len(near)),
                                 rng.uniform(0.0, 0.6, len(far))])
        predictions[gt_images[-1].key] = np.concatenate(
            [np.concatenate([near, far]), scores[:, None]], 1)
    return gt_images, predictions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', type=int, default=3226)
    parser.add_argument('--boxes', type=int, default=750)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--skip-io', action='store_true',
                        help='skip writing / reading the prediction text files')
    args = parser.parse_args()

    rows = []

    def timed(name, fn):
        start, cpu = time.perf_counter(), time.process_time()
        out = fn()
        rows.append((name, time.perf_counter() - start, time.process_time() - cpu))
        return out

    gt_images, predictions = timed('generate data',
                                   lambda: make_dataset(args.images, args.boxes, args.seed))
    num_faces = sum(len(im.boxes) for im in gt_images)
    with tempfile.TemporaryDirectory() as tmp:
        gt_dir, pred_dir = osp.join(tmp, 'gt'), osp.join(tmp, 'pred')
        timed('save .mat ground truth', lambda: save_wider_ground_truth(gt_dir, gt_images))
        gt_images = timed('load .mat ground truth', lambda: load_wider_ground_truth(gt_dir))
        curves = timed('evaluate easy/medium/hard', lambda: evaluate_wider(gt_images, predictions))
        few = timed('evaluate <= 3 faces view',
                    lambda: evaluate_wider(gt_images, predictions, max_faces=3))
        metric = timed('WIDERFaceMetric(gt_dir)',
                       lambda: WIDERFaceMetric(gt_dir=gt_dir, save_dir=tmp))
        # what process() keeps: float32 x1 y1 x2 y2 score per image
        results = [(key, np.concatenate([p[:, :2], p[:, :2] + p[:, 2:4], p[:, 4:]],
                                        1).astype(np.float32))
                   for key, p in predictions.items()]
        metric_aps = timed('metric compute_metrics + PNG', lambda: metric.compute_metrics(results))
        if not args.skip_io:
            timed('write prediction .txt files',
                  lambda: write_wider_predictions(pred_dir, predictions))
            read = timed('read prediction .txt files', lambda: read_wider_predictions(pred_dir))
            again = timed('evaluate the files read', lambda: evaluate_wider(gt_images, read))
            assert all(again[s].ap == curves[s].ap for s in WIDER_SETTINGS), \
                'text round trip changed the APs'

    print(f'WIDER FACE evaluation: {args.images} images, {args.boxes} predictions each '
          f'({args.images * args.boxes:,} boxes), {num_faces:,} faces')
    print(f'| {"stage":<30} | {"wall s":>7} | {"CPU s":>7} |')
    print(f'|{"-" * 32}|{"-" * 9}|{"-" * 9}|')
    for name, seconds, cpu in rows:
        print(f'| {name:<30} | {seconds:>7.2f} | {cpu:>7.2f} |')
    print('APs (random data): ' + ', '.join(
        f'{s} {curves[s].ap:.4f} / <=3 {few[s].ap:.4f}' for s in WIDER_SETTINGS))
    print('metric (float32 boxes as a model gives them): ' + ', '.join(
        f'{k} {v:.4f}' for k, v in metric_aps.items()))


if __name__ == '__main__':
    main()
