"""The embedded classification run (``make demo-vww``): RNNPool vs its base on mini VWW.

Stages (each runs the project's own tool, as a user would, and is timed):

1. build the mini Visual Wake Words set (``tools/dataset_converters/build_mini_vww.py``: a
   mini COCO 2014 folder converted by the real VWW tool);
2. for MobileNetV2-0.35x-RNNPool and the plain MobileNetV2-0.35x (configs in
   ``configs/rnnpool_cls``): train with ``tools/train.py`` (MMEngine's Runner, MMPretrain's
   components), evaluate the final checkpoint with ``tools/test.py`` (MMPretrain's
   ``Accuracy``) on minival, and count the parameters of the built model.

Both runs use the same data, schedule and seed; the table at the end puts them side by side.
``--jobs 2`` trains the two models at the same time, each with half of the CPU threads (their
outputs then go to the logs only; the times are then those of concurrent runs).
Every number in ``work_dirs/demo_vww/summary.json`` is measured by this run; a stage that did
not run leaves ``null`` and the table says why.
"""
import argparse
import json
import os
import os.path as osp
import runpy
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)

# The face demo's tool runner (streams a tool's output and tees it to a log).
run_tool = runpy.run_path(osp.join(REPO, 'tools', 'demo.py'))['run_tool']


def run_tool_quietly(args: List[str], log_file: str, threads: int) -> None:
    """Run a project tool with ``threads`` CPU threads, its output going to ``log_file`` only."""
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''),
               OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    print(f'$ {" ".join([sys.executable] + args)}  (log: {log_file})', flush=True)
    with open(log_file, 'w') as log:
        code = subprocess.call([sys.executable] + args, cwd=REPO, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    if code != 0:
        raise RuntimeError(f'{args[0]} failed with exit code {code} (log: {log_file})')


#: ``(name, config)`` in the order they run and appear in the table.
MODELS = (
    ('MobileNetV2-0.35x-RNNPool',
     'configs/rnnpool_cls/demo/mobilenet-v2-0.35x-rnnpool_1xb32-demo_mini-vww.py'),
    ('MobileNetV2-0.35x', 'configs/rnnpool_cls/demo/mobilenet-v2-0.35x_1xb32-demo_mini-vww.py'),
)


def read_test_metrics(test_dir: str) -> dict:
    """The metrics ``tools/test.py`` logged: ``<work_dir>/<timestamp>/<timestamp>.json``."""
    candidates = []
    for root, _, files in os.walk(test_dir):
        candidates += [osp.join(root, f) for f in files
                       if f.endswith('.json') and osp.basename(root) == f[:-5]]
    if not candidates:
        raise RuntimeError(f'no metrics json under {test_dir}')
    return json.load(open(max(candidates, key=osp.getmtime)))


def count_params(config: str) -> int:
    """Parameters of the model the config builds (what MMPretrain would train)."""
    import mmdet_rnnpool  # noqa: F401  (compat fixes: mmpretrain:: bases resolve)
    from mmengine.config import Config
    from mmengine.utils import import_modules_from_strings
    cfg = Config.fromfile(osp.join(REPO, config))
    import_modules_from_strings(**cfg.get('custom_imports', {}))
    from mmpretrain.registry import MODELS as REGISTRY
    model = REGISTRY.build(cfg.model)
    return int(sum(p.numel() for p in model.parameters()))


class VWWDemo:

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work_dir = osp.abspath(args.work_dir)
        self.data_root = osp.abspath(args.data_root)
        self.stages: List[dict] = []
        self.results: Dict[str, Dict[str, object]] = {
            name: dict(config=config, params=None, train_seconds=None, iterations=None,
                       top1=None) for name, config in MODELS}
        self.dataset_counts: Optional[dict] = None
        self.import_lock = threading.Lock()
        self.threads = 1

    # ---------------------------------------------------------------- stages
    def build_dataset(self) -> str:
        stamp = osp.join(self.data_root, '.built_with_seed')
        if osp.isfile(stamp) and open(stamp).read().strip() == str(self.args.seed):
            detail = f'reused {self.data_root}'
        else:
            shutil.rmtree(self.data_root, ignore_errors=True)
            run_tool(['tools/dataset_converters/build_mini_vww.py', '--out', self.data_root,
                      '--seed', str(self.args.seed)])
            with open(stamp, 'w') as f:
                f.write(str(self.args.seed))
            detail = f'built {self.data_root}'
        counts = {}
        for split in ('train', 'val'):
            with open(osp.join(self.data_root, 'meta', f'{split}.txt')) as f:
                labels = [line.rsplit(' ', 1)[1].strip() for line in f if line.strip()]
            counts[split] = dict(person=labels.count('1'), no_person=labels.count('0'))
        self.dataset_counts = counts
        return detail + '; ' + ', '.join(
            f'{split} {c["person"]} person / {c["no_person"]} no_person'
            for split, c in counts.items())

    def train_and_test(self, name: str, config: str) -> str:
        slug = osp.splitext(osp.basename(config))[0]
        train_dir = osp.join(self.work_dir, slug, 'train')
        options = [f'data_root={self.data_root}/']
        if self.args.max_iters:
            options += [f'train_cfg.max_iters={self.args.max_iters}',
                        f'train_cfg.val_interval={self.args.max_iters}',
                        f'default_hooks.checkpoint.interval={self.args.max_iters}']
        t0 = time.time()
        self._run(['tools/train.py', config, '--work-dir', train_dir, '--cfg-options']
                  + options, osp.join(self.work_dir, f'{slug}_train.log'))
        train_seconds = round(time.time() - t0, 1)
        last = osp.join(train_dir, 'last_checkpoint')
        if not osp.isfile(last):
            raise RuntimeError(f'training wrote no checkpoint ({last} is missing)')
        checkpoint = open(last).read().strip()
        test_dir = osp.join(self.work_dir, slug, 'test')
        self._run(['tools/test.py', config, checkpoint, '--work-dir', test_dir,
                   '--cfg-options', f'data_root={self.data_root}/'],
                  osp.join(self.work_dir, f'{slug}_test.log'))
        metrics = read_test_metrics(test_dir)
        if 'accuracy/top1' not in metrics:
            raise RuntimeError(f'accuracy/top1 missing from the test metrics {sorted(metrics)}')
        result = self.results[name]
        result['top1'] = float(metrics['accuracy/top1'])
        result['train_seconds'] = train_seconds
        result['iterations'] = int(osp.basename(checkpoint).split('_')[-1].split('.')[0])
        with self.import_lock:  # one thread at a time through the imports and registries
            result['params'] = count_params(config)
        return (f'minival top-1 {result["top1"]:.2f} % after {result["iterations"]} '
                f'iterations ({train_seconds} s of training), {result["params"]:,} params')

    def _run(self, args: List[str], log_file: str) -> None:
        if self.args.jobs == 1:
            run_tool(args, log_file=log_file)
        else:
            run_tool_quietly(args, log_file, self.threads)

    # ---------------------------------------------------------------- driver
    @staticmethod
    def _stage(name: str, stage) -> dict:
        t0 = time.time()
        try:
            detail, status = stage(), 'ok'
        except Exception as e:  # a failed stage is reported, the others still run
            detail, status = f'{type(e).__name__}: {e}', 'FAILED'
        return dict(stage=name, status=status, seconds=round(time.time() - t0, 1),
                    detail=detail)

    def run(self) -> int:
        os.makedirs(self.work_dir, exist_ok=True)
        self.threads = max(1, (os.cpu_count() or 1) // self.args.jobs)
        start = time.time()
        print('\n=== [1/2] dataset ===', flush=True)
        self.stages.append(self._stage('dataset', self.build_dataset))
        print(f'\n=== [2/2] train and test {len(MODELS)} models, {self.args.jobs} at a time '
              '===', flush=True)
        with ThreadPoolExecutor(max_workers=self.args.jobs) as pool:
            futures = [pool.submit(self._stage, name,
                                   lambda n=name, c=config: self.train_and_test(n, c))
                       for name, config in MODELS]
            self.stages += [future.result() for future in futures]
        failed = any(s['status'] != 'ok' for s in self.stages)
        summary = dict(models=self.results, dataset=self.dataset_counts, stages=self.stages,
                       total_seconds=round(time.time() - start, 1), seed=self.args.seed,
                       jobs=self.args.jobs, threads_per_job=self.threads,
                       cpu_count=os.cpu_count())
        with open(osp.join(self.work_dir, 'summary.json'), 'w') as f:
            json.dump(summary, f, indent=2)
        print(self.table(summary))
        return 1 if failed else 0

    def table(self, summary: dict) -> str:
        rows = ['', '| stage | status | time (s) | result |', '|---|---|---|---|']
        rows += [f"| {s['stage']} | {s['status']} | {s['seconds']} | {s['detail']} |"
                 for s in self.stages]
        rows += ['', '| model | params | iterations | train wall time (s) | minival top-1 (%) |',
                 '|---|---|---|---|---|']
        for name, r in self.results.items():
            cells = [
                f"{r['params']:,}" if r['params'] is not None else 'null',
                str(r['iterations']) if r['iterations'] is not None else 'null',
                str(r['train_seconds']) if r['train_seconds'] is not None else 'null',
                f"{r['top1']:.2f}" if r['top1'] is not None else 'null (stage did not run)',
            ]
            rows.append(f"| {name} | {' | '.join(cells)} |")
        rows.append(f"\nsummary: {osp.relpath(osp.join(self.work_dir, 'summary.json'), REPO)}"
                    f" (total {summary['total_seconds']} s)")
        return '\n'.join(rows)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs', 'demo_vww'))
    parser.add_argument('--data-root', default=osp.join(REPO, 'data', 'mini_vww'))
    parser.add_argument('--seed', type=int, default=0, help='seed of the mini VWW set')
    parser.add_argument('--max-iters', type=int, default=None,
                        help="override the demo configs' training length")
    parser.add_argument('--jobs', type=int, choices=(1, 2), default=2,
                        help='models trained at the same time: 2 (each with half the CPU '
                        'threads, output to the logs; faster on 2 cores) or 1 (one after the '
                        'other, output streamed)')
    return parser.parse_args(argv)


if __name__ == '__main__':
    sys.exit(VWWDemo(parse_args()).run())
