"""Parameters, MAdds and peak activation RAM of the RNNPool face detectors, beside the paper.

    python tools/analysis_tools/model_analysis.py [CONFIG ...] [--shape H W] [--json OUT]
                                                  [--blocks] [--cfg-options key=value ...]

Without CONFIG, the paper-recipe config of every variant in ``configs/rnnpool_face/``
(``rnnpool-face-*300e_widerface*.py``) is analysed. Each model is counted at
the paper's input (640 x 480 RGB; the M4 model at 320 x 240 grey) unless ``--shape`` is given;
the channels always come from the backbone. The conventions (MAdds of the RNNs per patch, peak
RAM layer by layer with RNNPool and 1x1 convs computed on the fly) are documented in
``mmdet_rnnpool/models/utils/complexity.py``. "MAdds w/o Uh" leaves out the RNNs' recurrent
products, the count the paper's figures agree with.
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

from mmdet_rnnpool.utils.config_utils import load_config  # noqa: E402

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# The paper's recipe for each variant (other configs there, e.g. the demo's, reuse a model).
DEFAULT_CONFIG_GLOB = osp.join(REPO_ROOT, 'configs', 'rnnpool_face',
                               'rnnpool-face-*300e_widerface*.py')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Parameters, MAdds and peak RAM of RNNPool face detectors vs the paper')
    parser.add_argument('configs', nargs='*',
                        help='config files (default: the paper recipe of each variant, '
                        'configs/rnnpool_face/rnnpool-face-*300e_widerface*.py)')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input height and width (default: the paper\'s, 480 640 and '
                        '240 320 for M4)')
    parser.add_argument('--json', metavar='OUT', help='also write the results to this JSON file')
    parser.add_argument('--blocks', action='store_true',
                        help='print the per-block activation costs too')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in every config, key=value')
    args = parser.parse_args(argv)
    if args.shape is not None and min(args.shape) < 8:
        parser.error(f'--shape {args.shape[0]} {args.shape[1]}: both sides must be >= 8')
    return args


def analyze_config(config_path: str, shape: Optional[List[int]] = None,
                   cfg_options: Optional[dict] = None) -> dict:
    """Build the detector of a config and count its complexity.

    Args:
        config_path (str): Config file.
        shape (list[int], optional): ``(H, W)``; None uses the paper's input of the variant,
            else 480 x 640.
        cfg_options (dict, optional): Overrides merged into the config. Defaults to None.

    Returns:
        dict: Measured figures, the paper's, and the relative differences.
    """
    from mmdet.registry import MODELS

    from mmdet_rnnpool.models.utils import (PAPER_FIGURES, DetectorLayers, analyze_complexity,
                                            variant_of_config)

    if not osp.isfile(config_path):
        raise SystemExit(f'error: config file not found: {config_path}')
    cfg = load_config(config_path, cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = MODELS.build(cfg.model)
    variant = variant_of_config(config_path)
    paper = PAPER_FIGURES.get(variant, {})
    if shape is None:
        shape = list(paper.get('input_shape', (3, 480, 640))[1:])
    channels = getattr(model.backbone, 'in_channels', 3)
    report = analyze_complexity(DetectorLayers(model), (channels, shape[0], shape[1]))

    def delta(measured: float, reference: Optional[float]) -> Optional[float]:
        return None if not reference else measured / reference - 1

    ram_dtype = paper.get('ram_dtype', 'float32')
    result = dict(
        config=osp.relpath(config_path, REPO_ROOT) if config_path.startswith(REPO_ROOT)
        else config_path,
        variant=variant,
        input_shape=list(report.input_shape),
        params=report.params,
        madds=report.macs,
        madds_without_recurrent=report.macs - report.rnn_recurrent_macs,
        peak_ram_values=report.peak_ram_values,
        peak_ram_float32_bytes=report.peak_ram_bytes('float32'),
        peak_ram_int8_bytes=report.peak_ram_bytes('int8'),
        peak_block=report.peak_block,
        paper_params=paper.get('params'),
        paper_madds=paper.get('madds'),
        paper_peak_ram_bytes=paper.get('peak_ram_bytes'),
        paper_peak_ram_dtype=ram_dtype if paper else None,
        params_delta=delta(report.params, paper.get('params')),
        madds_delta=delta(report.macs, paper.get('madds')),
        madds_without_recurrent_delta=delta(report.macs - report.rnn_recurrent_macs,
                                            paper.get('madds')),
        peak_ram_delta=delta(report.peak_ram_bytes(ram_dtype), paper.get('peak_ram_bytes')),
        blocks=[dict(name=b.name, kind=b.kind, in_values=b.in_values, out_values=b.out_values,
                     note=b.note) for b in report.blocks])
    return result


def _fmt_count(value: Optional[float], unit: str, scale: float, digits: int) -> str:
    return '-' if value is None else f'{value / scale:.{digits}f}{unit}'


def _fmt_delta(value: Optional[float]) -> str:
    return '-' if value is None else f'{value:+.0%}'


def _fmt_bytes(value: Optional[float]) -> str:
    if value is None:
        return '-'
    if value >= 2**20:
        return f'{value / 2**20:.2f} MB'
    return f'{value / 2**10:.1f} KB'


def format_table(results: List[dict]) -> str:
    """A plain-text table of :func:`analyze_config` results (MB / KB are MiB / KiB)."""
    header = ['variant', 'input', 'params', 'paper', 'diff', 'MAdds', 'paper', 'diff',
              'MAdds w/o Uh', 'diff', 'RAM f32', 'RAM int8', 'paper RAM', 'diff', 'peak block']
    rows = []
    for r in results:
        c, h, w = r['input_shape']
        paper_ram = ('-' if r['paper_peak_ram_bytes'] is None else
                     f"{_fmt_bytes(r['paper_peak_ram_bytes'])} {r['paper_peak_ram_dtype']}")
        rows.append([
            r['variant'] or osp.basename(r['config']),
            f'{w}x{h}x{c}',
            _fmt_count(r['params'], 'M', 1e6, 3),
            _fmt_count(r['paper_params'], 'M', 1e6, 2),
            _fmt_delta(r['params_delta']),
            _fmt_count(r['madds'], 'G', 1e9, 3),
            _fmt_count(r['paper_madds'], 'G', 1e9, 2),
            _fmt_delta(r['madds_delta']),
            _fmt_count(r['madds_without_recurrent'], 'G', 1e9, 3),
            _fmt_delta(r['madds_without_recurrent_delta']),
            _fmt_bytes(r['peak_ram_float32_bytes']),
            _fmt_bytes(r['peak_ram_int8_bytes']),
            paper_ram,
            _fmt_delta(r['peak_ram_delta']),
            r['peak_block'].replace('detector.', ''),
        ])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = [' | '.join(h.ljust(n) for h, n in zip(header, widths)),
             '-+-'.join('-' * n for n in widths)]
    lines += [' | '.join(str(x).ljust(n) for x, n in zip(row, widths)) for row in rows]
    return '\n'.join(lines)


def format_blocks(result: dict) -> str:
    """Per-block activation values of one result."""
    lines = [f"{result['variant'] or result['config']}: block | kind | in | out | note"]
    for b in result['blocks']:
        lines.append(f"  {b['name'].replace('detector.', '')} | {b['kind']} | {b['in_values']} "
                     f"| {b['out_values']} | {b['note']}")
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> List[dict]:
    args = parse_args(argv)
    configs = args.configs or sorted(glob.glob(DEFAULT_CONFIG_GLOB))
    if not configs:
        raise SystemExit(f'error: no config given and none found in {DEFAULT_CONFIG_GLOB}')
    results = [analyze_config(path, args.shape, args.cfg_options) for path in configs]
    print(format_table(results))
    if args.blocks:
        for result in results:
            print(format_blocks(result))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=2)
        print(f'wrote {args.json}')
    return results


if __name__ == '__main__':
    main()
