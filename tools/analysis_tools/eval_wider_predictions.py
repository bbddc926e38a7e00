"""Evaluate a folder of WIDER FACE predictions (official text layout) without a model.

    python tools/analysis_tools/eval_wider_predictions.py PRED_DIR GT_DIR [--json FILE]
        [--max-faces 3] [--plot FILE]

``PRED_DIR`` holds ``<event>/<name>.txt`` files (name line, count line, ``x y w h score``
lines), as written by ``WIDERFaceMetric(prediction_dir=...)`` or any WIDER FACE detector;
``GT_DIR`` is the official ``eval_tools/ground_truth`` folder (or a generated one). Prints the
easy / medium / hard APs (and, with ``--max-faces``, the same on images with at most that many
faces); ``--json`` writes ``{"easy": .., "medium": .., "hard": ..}`` with APs in 0..1.
Prediction files for images missing from the ground truth are skipped with a warning;
ground-truth images without a file count their faces as misses.
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmdet_rnnpool.evaluation.functional import (  # noqa: E402
    WIDER_SETTINGS, evaluate_wider, load_wider_ground_truth, plot_wider_pr_curves,
    read_wider_predictions)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Evaluate WIDER FACE predictions with the official protocol')
    parser.add_argument('pred_dir', help='folder of <event>/<name>.txt prediction files')
    parser.add_argument('gt_dir', help='folder with wider_face_val.mat and '
                        'wider_{easy,medium,hard}_val.mat')
    parser.add_argument('--json', metavar='FILE', help='write the easy/medium/hard APs here')
    parser.add_argument('--max-faces', type=int, default=None, metavar='N',
                        help='also report the APs on images with at most N faces')
    parser.add_argument('--plot', metavar='FILE', help='save the PR curves as a PNG')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        gt_images = load_wider_ground_truth(args.gt_dir)
        predictions = read_wider_predictions(args.pred_dir)
    except (OSError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    gt_keys = {image.key for image in gt_images}
    unknown = sorted(key for key in predictions if key not in gt_keys)
    if unknown:
        print(f'warning: skipping {len(unknown)} prediction file(s) for images not in the '
              f'ground truth, e.g. {unknown[0]}.txt', file=sys.stderr)
        for key in unknown:
            del predictions[key]
    missing = len(gt_keys) - len(predictions)
    if missing:
        print(f'warning: {missing} of {len(gt_keys)} ground-truth images have no prediction '
              'file; their faces count as misses', file=sys.stderr)

    curves = evaluate_wider(gt_images, predictions)
    print(f'{"setting":<10}{"AP":>8}{"faces":>9}')
    for setting in WIDER_SETTINGS:
        print(f'{setting:<10}{curves[setting].ap:>8.4f}{curves[setting].num_faces:>9d}')
    if args.max_faces is not None:
        few = evaluate_wider(gt_images, predictions, max_faces=args.max_faces)
        for setting in WIDER_SETTINGS:
            name = f'{setting}_le{args.max_faces}'
            print(f'{name:<10}{few[setting].ap:>8.4f}{few[setting].num_faces:>9d}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({s: curves[s].ap for s in WIDER_SETTINGS}, f, indent=2)
    if args.plot:
        plot_wider_pr_curves(curves, args.plot, title=f'WIDER FACE: {args.pred_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
