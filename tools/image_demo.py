"""Detect faces in one image with a trained checkpoint and draw the boxes.

    python tools/image_demo.py IMG CONFIG CHECKPOINT --out-file out.jpg
        [--score-thr 0.3] [--device cpu] [--cfg-options key=value ...]
        [--allow-partial-checkpoint]

Runs ``mmdet.apis.init_detector`` / ``inference_detector`` (the config's test pipeline: the
image resized to the area of 640 x 480, grey for the M4 model), then draws every box scoring at
least ``--score-thr`` on the original image, with its score, and prints the boxes. A checkpoint
whose weights do not fit the config's model is refused (``--allow-partial-checkpoint`` draws
with it anyway), and so is a file that is not an image, in one line.
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmdet_rnnpool  # noqa: E402,F401  (compat fixes + registration)
import cv2  # noqa: E402
import mmcv  # noqa: E402
import numpy as np  # noqa: E402
from mmengine.config import DictAction  # noqa: E402

from mmdet_rnnpool.utils.checkpoint import (ALLOW_PARTIAL_FLAG,  # noqa: E402
                                            init_detector_checked)
from mmdet_rnnpool.utils.cli import run_cli  # noqa: E402
from mmdet_rnnpool.utils.config_utils import load_config  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Detect faces in an image and draw them')
    parser.add_argument('img', help='image file')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out-file', required=True, help='where to write the drawn image')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='lowest score drawn. Defaults to 0.3.')
    parser.add_argument('--device', default='cpu', help='device. Defaults to cpu.')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config, key=value')
    parser.add_argument(ALLOW_PARTIAL_FLAG, action='store_true',
                        help='use a checkpoint whose weights do not all fit the model (by '
                        'default such a checkpoint is refused)')
    args = parser.parse_args(argv)
    for path, what in ((args.img, 'image'), (args.config, 'config'),
                       (args.checkpoint, 'checkpoint')):
        if not osp.isfile(path):
            parser.error(f'{what} file not found: {path}')
    if not 0 <= args.score_thr <= 1:
        parser.error(f'--score-thr must be in [0, 1], got {args.score_thr}')
    return args


def read_image(path: str) -> np.ndarray:
    """The image at ``path`` (BGR), or a one-line error naming the file."""
    try:
        image = mmcv.imread(path)
    except (OSError, ValueError, TypeError) as err:  # e.g. a decoder that rejects the bytes
        raise ValueError(f'{path}: not a readable image ({err})') from None
    if image is None or image.size == 0:
        raise ValueError(f'{path}: not an image (no image format could decode it)')
    return image


def draw_detections(image: np.ndarray, bboxes: np.ndarray, scores: np.ndarray,
                    score_thr: float) -> np.ndarray:
    """Draw the boxes scoring at least ``score_thr`` (green, with the score) on a copy."""
    canvas = image.copy()
    if canvas.ndim == 2:
        canvas = cv2.cvtColor(canvas, cv2.COLOR_GRAY2BGR)
    thickness = max(1, round(max(canvas.shape[:2]) / 400))
    for (x1, y1, x2, y2), score in zip(bboxes, scores):
        if score < score_thr:
            continue
        p1, p2 = (int(round(x1)), int(round(y1))), (int(round(x2)), int(round(y2)))
        cv2.rectangle(canvas, p1, p2, (0, 255, 0), thickness)
        cv2.putText(canvas, f'{score:.2f}', (p1[0], max(p1[1] - 3, 10)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thickness, (0, 255, 0), thickness)
    return canvas


def main(argv: Optional[List[str]] = None) -> List[List[float]]:
    args = parse_args(argv)
    from mmdet.apis import inference_detector

    image = read_image(args.img)
    cfg = load_config(args.config, args.cfg_options)
    model = init_detector_checked(cfg, args.checkpoint, device=args.device,
                                  allow_partial=args.allow_partial_checkpoint)
    result = inference_detector(model, args.img)
    pred = result.pred_instances
    bboxes = pred.bboxes.cpu().numpy()
    scores = pred.scores.cpu().numpy()
    out_dir = osp.dirname(osp.abspath(args.out_file))
    os.makedirs(out_dir, exist_ok=True)
    if not mmcv.imwrite(draw_detections(image, bboxes, scores, args.score_thr), args.out_file):
        raise SystemExit(f'error: could not write {args.out_file}')
    kept = [[*map(float, box), float(score)] for box, score in zip(bboxes, scores)
            if score >= args.score_thr]
    print(f'{len(kept)} faces with score >= {args.score_thr} (of {len(scores)} detections); '
          f'wrote {args.out_file}')
    for x1, y1, x2, y2, score in kept:
        print(f'  [{x1:.1f}, {y1:.1f}, {x2:.1f}, {y2:.1f}] {score:.3f}')
    return kept


if __name__ == '__main__':
    sys.exit(run_cli(main))
