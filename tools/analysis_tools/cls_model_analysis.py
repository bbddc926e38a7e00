"""Parameters, MAdds and peak RAM of the RNNPool classifiers, beside the paper's tables.

    python tools/analysis_tools/cls_model_analysis.py [CONFIG ...] [--json OUT] [--blocks]
                                                      [--cfg-options key=value ...]

Without CONFIG, every config in ``configs/rnnpool_cls/`` is analysed, at 224 x 224 (Visual
Wake Words configs at their own resolution). The conventions are documented in
``mmdet_rnnpool/cls/models/utils/complexity.py``: "RAM" is the layer-by-layer peak (a block's
input + output, the early down-sampling layer and everything before it computed patch by patch,
1x1 convs and average pooling on the fly); "1 map" is the largest single map held. Float32
bytes, except for Visual Wake Words (int8, the deployed model, as the paper counts it).
"MAdds w/o Uh" leaves out the RNNs' recurrent products. Paper figures: Tables 1, 2, 3, 16,
Figure 3 and Section 5.2 (``PAPER_CLS_FIGURES``).
"""
import argparse
import glob
import json
import os.path as osp
import sys
from typing import List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import mmdet_rnnpool  # noqa: E402,F401  (compat fixes + registration)
from mmengine.config import DictAction  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

from mmdet_rnnpool.utils.cli import run_cli  # noqa: E402
from mmdet_rnnpool.utils.config_utils import load_config  # noqa: E402

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG_GLOB = osp.join(REPO_ROOT, 'configs', 'rnnpool_cls', '*.py')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Parameters, MAdds and peak RAM of RNNPool classifiers vs the paper')
    parser.add_argument('configs', nargs='*',
                        help='config files (default: every config in configs/rnnpool_cls/)')
    parser.add_argument('--json', metavar='OUT', help='also write the results to this JSON file')
    parser.add_argument('--blocks', action='store_true',
                        help='print the per-block activation costs too')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in every config, key=value')
    return parser.parse_args(argv)


def input_size(config_path: str) -> int:
    """224, or the resolution a VWW config name ends with (``..._vww-96px.py`` -> 96)."""
    name = osp.basename(config_path)
    if '_vww-' in name and name.endswith('px.py'):
        return int(name.rsplit('_vww-', 1)[1][:-len('px.py')])
    return 224


def analyze_config(config_path: str, cfg_options: Optional[dict] = None) -> dict:
    """Build the classifier of a config and count its complexity (see the module docstring)."""
    cfg = load_config(config_path, cfg_options)  # imports custom_imports (mmdet_rnnpool.cls)
    if cfg.get('default_scope') != 'mmpretrain' or 'model' not in cfg:
        raise ValueError(f'{config_path}: not an MMPretrain classifier config '
                         f"(default_scope {cfg.get('default_scope')!r})")
    import mmdet_rnnpool.cls  # noqa: F401  (in case the config does not import it)
    from mmpretrain.registry import MODELS

    from mmdet_rnnpool.cls.models.utils.complexity import (PAPER_CLS_FIGURES, analyze_classifier,
                                                           paper_key, ram_dtype,
                                                           single_map_values)
    init_default_scope('mmpretrain')
    model = MODELS.build(cfg.model)
    size = input_size(config_path)
    report = analyze_classifier(model, (3, size, size))
    dtype = ram_dtype(config_path)
    key = paper_key(config_path)
    return dict(
        config=osp.basename(config_path),
        input=size,
        params=report.params,
        madds=report.macs,
        madds_without_uh=report.macs - report.rnn_recurrent_macs,
        ram_dtype=dtype,
        peak_ram_bytes=report.peak_ram_bytes(dtype),
        peak_block=report.peak_block,
        single_map_bytes=single_map_values(report) * (1 if dtype == 'int8' else 4),
        paper=PAPER_CLS_FIGURES.get(key) if key else None,
        blocks=[dict(name=b.name, kind=b.kind, in_values=b.in_values,
                     out_values=b.out_values, note=b.note) for b in report.blocks])


def _diff(ours: float, paper: Optional[float]) -> str:
    return '-' if not paper else f'{100 * (ours - paper) / paper:+.0f}%'


def format_table(rows: List[dict]) -> str:
    """A Markdown table of the results beside the paper's figures."""
    lines = [
        '| config | px | params M | paper | diff | MAdds G | w/o Uh | paper | diff '
        '| RAM | 1 map | paper | diff (RAM / 1 map) |',
        '|---|---|---|---|---|---|---|---|---|---|---|---|---|'
    ]
    for row in rows:
        paper = row['paper'] or {}
        unit, scale = ('KB', 2**10) if row['ram_dtype'] == 'int8' else ('MB', 2**20)
        p_params, p_madds, p_ram = (paper.get(k) for k in ('params', 'madds', 'ram'))
        lines.append(
            f"| {row['config'][:-3]} | {row['input']} | {row['params'] / 1e6:.3f} | "
            f"{'-' if p_params is None else f'{p_params / 1e6:.3f}'} | "
            f"{_diff(row['params'], p_params)} | {row['madds'] / 1e9:.3f} | "
            f"{row['madds_without_uh'] / 1e9:.3f} | "
            f"{'-' if p_madds is None else f'{p_madds / 1e9:.3f}'} | "
            f"{_diff(row['madds_without_uh'], p_madds)} | "
            f"{row['peak_ram_bytes'] / scale:.3f} {unit} | "
            f"{row['single_map_bytes'] / scale:.3f} {unit} | "
            f"{'-' if p_ram is None else f'{p_ram / scale:.3f} {unit}'} | "
            f"{_diff(row['peak_ram_bytes'], p_ram)} / {_diff(row['single_map_bytes'], p_ram)} |")
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> List[dict]:
    args = parse_args(argv)
    configs = args.configs or sorted(glob.glob(DEFAULT_CONFIG_GLOB))
    if not configs:
        raise SystemExit(f'error: no config found ({DEFAULT_CONFIG_GLOB})')
    rows = []
    for path in configs:
        if not osp.isfile(path):
            raise SystemExit(f'error: config file not found: {path}')
        rows.append(analyze_config(path, args.cfg_options))
        if args.blocks:
            print(f"{rows[-1]['config']} (peak at {rows[-1]['peak_block']}):")
            for block in rows[-1]['blocks']:
                print(f"  {block['name']:55s} {block['kind']:8s} in {block['in_values']:>9d} "
                      f"out {block['out_values']:>9d}  {block['note']}")
    print(format_table(rows))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == '__main__':
    sys.exit(run_cli(main))
