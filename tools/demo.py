"""The whole product on one machine, in one command (``make demo``).

Stages (each one runs the project's own tool, as a user would, and is timed):

1. build the mini WIDER FACE dataset in the official layout (``tools/dataset_converters``);
2. train a face detector with ``tools/train.py`` on the CPU (a config in ``configs/rnnpool_face``);
3. evaluate it with ``tools/test.py`` and the official WIDER FACE metric (easy / medium / hard);
4. draw its detections on a real photograph (scikit-image's astronaut);
5. count parameters, MAdds and the paper-convention peak RAM (``model_analysis.py``);
6. export it with the MCU exporter, build and run the C on the host and, where the ARM toolchain
   and QEMU are installed, on an emulated Cortex-M4.

Every number in ``work_dirs/demo/summary.json`` is measured by this run; a stage that cannot run
yields ``null`` values and the table says why. Nothing is made up.
"""
import argparse
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_CONFIG = 'configs/rnnpool_face/rnnpool-face-quant_1xb8-demo_mini-wider.py'

SUMMARY_KEYS = ('easy', 'medium', 'hard', 'params', 'madds', 'peak_ram_bytes', 'flash_bytes',
                'c_matches_reference')


class StageSkipped(Exception):
    """A stage that cannot run here; the message says why."""


def run_tool(args: List[str], log_file: Optional[str] = None, env: Optional[dict] = None) -> None:
    """Run a project tool with this interpreter, streaming its output (and teeing it to a log)."""
    cmd = [sys.executable] + args
    print(f'\n$ {" ".join(cmd)}', flush=True)
    full_env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    full_env.update(env or {})
    with subprocess.Popen(cmd, cwd=REPO, env=full_env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, bufsize=1) as proc:
        log = open(log_file, 'w') if log_file else None
        try:
            for line in proc.stdout:
                sys.stdout.write(line)
                if log:
                    log.write(line)
        finally:
            if log:
                log.close()
    if proc.returncode != 0:
        raise RuntimeError(f'{args[0]} failed with exit code {proc.returncode}'
                           + (f' (log: {log_file})' if log_file else ''))


class Demo:

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work_dir = osp.abspath(args.work_dir)
        self.data_root = osp.abspath(args.data_root)
        self.config = args.config
        self.summary: Dict[str, object] = {key: None for key in SUMMARY_KEYS}
        self.stages: List[dict] = []
        self.checkpoint: Optional[str] = None

    # ---------------------------------------------------------------- stages
    def build_dataset(self) -> str:
        stamp = osp.join(self.data_root, '.built_with_seed')
        if osp.isfile(stamp) and open(stamp).read().strip() == str(self.args.seed):
            return f'reused {self.data_root}'
        shutil.rmtree(self.data_root, ignore_errors=True)
        run_tool(['tools/dataset_converters/build_mini_wider.py', '--out', self.data_root,
                  '--seed', str(self.args.seed)])
        with open(stamp, 'w') as f:
            f.write(str(self.args.seed))
        return f'built {self.data_root}'

    def train(self) -> str:
        train_dir = osp.join(self.work_dir, 'train')
        options = [f'data_root={self.data_root}/']
        if self.args.max_iters:
            options += [f'train_cfg.max_iters={self.args.max_iters}']
        run_tool(['tools/train.py', self.config, '--work-dir', train_dir, '--cfg-options']
                 + options)
        last = osp.join(train_dir, 'last_checkpoint')
        if not osp.isfile(last):
            raise RuntimeError(f'training wrote no checkpoint ({last} is missing)')
        self.checkpoint = open(last).read().strip()
        return f'checkpoint {osp.relpath(self.checkpoint, REPO)}'

    def evaluate(self) -> str:
        self._need_checkpoint()
        test_dir = osp.join(self.work_dir, 'test')
        run_tool(['tools/test.py', self.config, self.checkpoint, '--work-dir', test_dir,
                  '--cfg-options', f'data_root={self.data_root}/',
                  f'test_evaluator.save_dir={test_dir}',
                  f'test_evaluator.prediction_dir={test_dir}/predictions'])
        metrics = self._read_metrics(test_dir)
        for setting in ('easy', 'medium', 'hard'):
            self.summary[setting] = metrics[setting]
        point = self._operating_point(osp.join(test_dir, 'predictions'))
        return (', '.join(f'{k} {metrics[k]:.3f}' for k in ('easy', 'medium', 'hard'))
                + f'; best F1 (medium) at score >= {point[0]:.3f}: precision '
                f'{point[1]:.2f}, recall {point[2]:.2f}'
                + f'; PR curves {osp.relpath(test_dir, REPO)}/wider_pr_curves.png')

    def _operating_point(self, prediction_dir: str) -> tuple:
        """The validation split's best-F1 score threshold on WIDER's 'medium' face list.

        The model's scores are not calibrated probabilities (S3FD's low-IoU positives keep
        them well below 1), so the picture is drawn at the threshold that balances precision
        and recall on the validation images instead of at a fixed 0.5. 'medium' leaves out the
        tiny and heavily occluded faces a picture's viewer would not expect boxes on.
        """
        from mmdet_rnnpool.evaluation.functional import (evaluate_wider,
                                                         load_wider_ground_truth,
                                                         read_wider_predictions)
        gt = load_wider_ground_truth(osp.join(self.data_root, 'eval_tools', 'ground_truth'))
        curve = evaluate_wider(gt, read_wider_predictions(prediction_dir),
                               settings=('medium', ))['medium']
        point = curve.best_f1()
        self.summary['score_thr_best_f1'] = point[0] if point[0] == point[0] else None
        self.summary['best_f1_precision_recall'] = [point[1], point[2]]
        return point

    def draw(self) -> str:
        """Draw the detections on a real portrait the model never saw in any form (scikit-image's
        astronaut: out of the mini dataset's domain) and on a held-out validation image."""
        self._need_checkpoint()
        import cv2
        from skimage import data
        threshold, source = self.args.score_thr, '--score-thr'
        if threshold is None:
            threshold, source = self.summary.get('score_thr_best_f1'), 'best F1 on val'
        if threshold is None:
            threshold, source = 0.5, 'default (no evaluation ran)'
        self.summary['draw_score_thr'] = round(float(threshold), 4)
        astronaut = osp.join(self.work_dir, 'astronaut.jpg')
        cv2.imwrite(astronaut, data.astronaut()[..., ::-1])
        pictures = [(astronaut, osp.join(self.work_dir, 'astronaut_detections.jpg'))]
        val_image = self._busiest_val_image()
        if val_image is not None:
            pictures.append((val_image, osp.join(self.work_dir, 'val_detections.jpg')))
        for image, out in pictures:
            run_tool(['tools/image_demo.py', image, self.config, self.checkpoint, '--out-file',
                      out, '--score-thr', f'{threshold:.4f}'])
        return (f"pictures {', '.join(osp.relpath(out, REPO) for _, out in pictures)} "
                f'(score >= {threshold:.3f}, {source})')

    def _busiest_val_image(self) -> Optional[str]:
        """The validation image with the most faces of at least 24 px (first of a tie)."""
        from mmdet_rnnpool.datasets.wider_face_txt import parse_wider_bbx_gt
        ann = osp.join(self.data_root, 'wider_face_split', 'wider_face_val_bbx_gt.txt')
        records = parse_wider_bbx_gt(ann)
        if not records:
            return None
        best = max(records, key=lambda r: int((r.boxes[:, 3] >= 24).sum()) if len(r.boxes) else 0)
        return osp.join(self.data_root, 'WIDER_val', 'images', best.name)

    def analyse(self) -> str:
        out = osp.join(self.work_dir, 'model_analysis.json')
        run_tool(['tools/analysis_tools/model_analysis.py', self.config, '--json', out])
        report = json.load(open(out))
        entry = report[0] if isinstance(report, list) else report
        self.summary['params'] = entry['params']
        self.summary['madds'] = entry['madds']
        self.summary['paper_convention_peak_ram_int8_bytes'] = entry.get('peak_ram_int8_bytes')
        return f"{entry['params']:,} params, {entry['madds'] / 1e6:.1f}M MAdds"

    def export_mcu(self) -> str:
        self._need_checkpoint()
        exporter = osp.join(REPO, 'tools', 'deployment', 'export_mcu.py')
        if not osp.isfile(exporter):
            raise StageSkipped('the MCU exporter (tools/deployment/export_mcu.py) has not '
                               'landed yet')
        out = osp.join(self.work_dir, 'mcu')
        # Calibrate on training images (the validation split stays unseen); the first one is
        # also the image the host and QEMU builds run on.
        calib = self._images('train')[::7][:self.args.calib_images]
        # Float vs int8 detections are compared on held-out validation images.
        held_out = self._images('val')[::5][:self.args.parity_images]
        run_tool(['tools/deployment/export_mcu.py', self.config, self.checkpoint, '--out', out,
                  '--calib-images', *calib, '--num-calib', str(len(calib)),
                  '--eval-images', *held_out, '--num-eval', str(len(held_out))])
        report = json.load(open(osp.join(out, 'report.json')))
        parity = report.get('float_vs_int') or {}
        self.summary['float_vs_int8'] = {
            key: parity.get(key) for key in ('images', 'score_thr', 'iou_thr', 'float_detections',
                                             'iou_ge_thr_fraction', 'iou_ge_0_5_fraction')}
        self.summary['flash_bytes'] = report.get('flash_bytes')
        self.summary['peak_ram_bytes'] = report.get('peak_ram_bytes')
        self.summary['instructions'] = report.get('instructions')
        host_ok = report.get('host_matches_reference')
        qemu_ok = report.get('qemu_matches_host')
        # C == reference: the host build matched the integer reference and, where QEMU ran,
        # the Cortex-M4 build matched the host bit for bit.
        self.summary['c_matches_reference'] = bool(host_ok) and qemu_ok is not False
        target = ('host + QEMU Cortex-M4' if qemu_ok is not None else
                  'host only (arm-none-eabi-gcc / qemu-system-arm not installed)')
        matched = parity.get('iou_ge_thr_fraction')
        return (f'{osp.relpath(out, REPO)}: {target}; host==reference {host_ok}, '
                f'QEMU==host {qemu_ok}; float vs int8 on {parity.get("images")} val images: '
                f'{"n/a" if matched is None else f"{matched:.1%}"} of '
                f'{parity.get("float_detections")} float detections (score >= '
                f'{parity.get("score_thr")}) matched at IoU >= {parity.get("iou_thr")}')

    # ---------------------------------------------------------------- helpers
    def _need_checkpoint(self) -> None:
        if self.checkpoint is None:
            raise StageSkipped('no trained checkpoint (training did not run)')

    def _images(self, split: str) -> List[str]:
        root = osp.join(self.data_root, f'WIDER_{split}', 'images')
        return sorted(osp.join(d, f) for d, _, files in os.walk(root) for f in files
                      if f.endswith('.jpg'))

    @staticmethod
    def _read_metrics(test_dir: str) -> dict:
        # mmengine writes the test metrics into <work_dir>/<timestamp>/<timestamp>.json
        candidates = []
        for root, _, files in os.walk(test_dir):
            candidates += [osp.join(root, f) for f in files if f.endswith('.json')
                           and osp.basename(root) == f[:-5]]
        if not candidates:
            raise RuntimeError(f'no metrics json under {test_dir}')
        metrics = json.load(open(max(candidates, key=osp.getmtime)))
        found = {}
        for setting in ('easy', 'medium', 'hard'):
            keys = [k for k in metrics if k.endswith(f'/{setting}') or k == setting]
            if not keys:
                raise RuntimeError(f'metric {setting!r} missing from {sorted(metrics)}')
            found[setting] = float(metrics[keys[0]])
        return found

    # ---------------------------------------------------------------- driver
    def run(self) -> int:
        os.makedirs(self.work_dir, exist_ok=True)
        stages: List[tuple] = [
            ('dataset', self.build_dataset),
            ('train', self.train),
            ('evaluate', self.evaluate),
            ('draw', self.draw),
            ('analyse', self.analyse),
            ('export', self.export_mcu),
        ]
        start = time.time()
        failed = False
        for name, stage in stages:
            if name in self.args.skip:
                self.stages.append(dict(stage=name, status='skipped', seconds=0.0,
                                        detail='--skip on the command line'))
                continue
            print(f'\n=== [{len(self.stages) + 1}/{len(stages)}] {name} ===', flush=True)
            t0 = time.time()
            try:
                detail, status = stage(), 'ok'
            except StageSkipped as e:
                detail, status = str(e), 'skipped'
            except Exception as e:  # a failed stage is reported, later stages still run
                detail, status, failed = f'{type(e).__name__}: {e}', 'FAILED', True
            self.stages.append(dict(stage=name, status=status, seconds=round(time.time() - t0, 1),
                                    detail=detail))
        self.summary['stages'] = self.stages
        self.summary['total_seconds'] = round(time.time() - start, 1)
        with open(osp.join(self.work_dir, 'summary.json'), 'w') as f:
            json.dump(self.summary, f, indent=2)
        print(self.table())
        return 1 if failed else 0

    def table(self) -> str:
        rows = ['', '| stage | status | time (s) | result |', '|---|---|---|---|']
        rows += [f"| {s['stage']} | {s['status']} | {s['seconds']} | {s['detail']} |"
                 for s in self.stages]
        rows += ['', '| measure | value |', '|---|---|']
        for key in SUMMARY_KEYS + ('instructions', ):
            value = self.summary.get(key)
            if isinstance(value, float):
                value = f'{value:.3f}'
            elif isinstance(value, int) and not isinstance(value, bool):
                value = f'{value:,}'
            rows.append(f"| {key} | {'null (stage did not run)' if value is None else value} |")
        rows.append(f"\nsummary: {osp.relpath(osp.join(self.work_dir, 'summary.json'), REPO)}"
                    f" (total {self.summary['total_seconds']} s)")
        return '\n'.join(rows)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs', 'demo'))
    parser.add_argument('--data-root', default=osp.join(REPO, 'data', 'mini_wider'))
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--max-iters', type=int, default=None,
                        help='override the demo config\'s training length')
    parser.add_argument('--score-thr', type=float, default=None,
                        help='lowest score drawn on the picture. Defaults to the validation '
                        "split's best-F1 threshold (0.5 if the evaluation did not run)")
    parser.add_argument('--calib-images', type=int, default=16)
    parser.add_argument('--parity-images', type=int, default=20,
                        help='validation images of the float vs int8 comparison')
    parser.add_argument('--skip', nargs='*', default=[],
                        choices=['dataset', 'train', 'evaluate', 'draw', 'analyse', 'export'])
    return parser.parse_args(argv)


if __name__ == '__main__':
    sys.exit(Demo(parse_args()).run())
