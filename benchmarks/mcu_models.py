"""Exports the paper's MCU face detectors and measures them on QEMU mps2-an386.

For each config (default: Face-Quant 640x480 RGB and Face-M4 320x240 grey) this runs
``tools/deployment/export_mcu.py`` (a checkpoint is made from the config's initial weights unless
one is given), which builds the C project for the host and the Cortex-M4, checks host ==
integer reference == QEMU, and measures flash, static RAM, stack, peak RAM and instructions.
Prints a Markdown table (paper: Face-Quant 225 KB peak RAM, Face-M4 188 KB; ~25 M4 cycles per
MAdd for the M4 model).

Usage:
    python benchmarks/mcu_models.py [--images DIR] [--checkpoint-quant P] [--checkpoint-m4 P]
        [--stream-cut N] [--no-in-place] [--targets]

The exporter plans inverted residual blocks in place and lets the planner choose how many
layers after RNNPool run inside the row stream (``mcu_export.planner.plan_schedule``);
``--stream-cut 0`` streams only up to RNNPool (the schedule before blocks could stream),
``--no-in-place`` gives every block output its own buffer.
"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'tools' / 'deployment'))

MODELS = [
    ('Face-Quant', 'configs/rnnpool_face/rnnpool-face-quant_1xb32-300e_widerface.py', (480, 640),
     3),
    ('Face-M4', 'configs/rnnpool_face/rnnpool-face-m4_1xb32-300e_widerface-qvga-gray.py',
     (240, 320), 1),
]
# The project's peak RAM targets (bytes; 127.9 KB / 84.5 KB, issue 11), exported with
# --ram-budget TARGET --stack-bytes TARGET_STACK under --targets (the exporter then drops the
# RNNPool row cache where only that fits). The measured stack is 1588 B.
RAM_TARGETS = {'Face-Quant': 130964, 'Face-M4': 86528}
TARGET_STACK = 2048


def synthetic_images(folder: Path, size, channels, n=4, seed=0):
    """Smooth random images (blocks of colour) as PPM / PGM files."""
    from mcu_export.build import write_pnm
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        small = rng.integers(0, 256, (size[0] // 16, size[1] // 16, channels))
        write_pnm(folder / f'synthetic_{i}.{"ppm" if channels == 3 else "pgm"}',
                  np.kron(small, np.ones((16, 16, 1))).astype(np.uint8))
    return folder


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', help='calibration / test images (default: synthetic)')
    parser.add_argument('--checkpoint-quant', help='Face-Quant checkpoint')
    parser.add_argument('--checkpoint-m4', help='Face-M4 checkpoint')
    parser.add_argument('--out', default=None, help='keep the projects here')
    parser.add_argument('--stream-cut', type=int, default=None,
                        help='whole-map layers moved into the row stream (default: planner)')
    parser.add_argument('--no-in-place', action='store_true',
                        help='no in-place inverted residual blocks')
    parser.add_argument('--targets', action='store_true',
                        help='export each model with its RAM target as --ram-budget (default: '
                        'the exporter\'s 256 KB)')
    args = parser.parse_args()
    import torch
    import export_mcu
    extra = (['--stream-cut', str(args.stream_cut)] if args.stream_cut is not None else [])
    extra += ['--no-in-place'] if args.no_in_place else []
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.out or tmp)
        work.mkdir(parents=True, exist_ok=True)
        for (name, config, size, channels), ckpt in zip(MODELS,
                                                        (args.checkpoint_quant,
                                                         args.checkpoint_m4)):
            if ckpt is None:
                from mmengine.config import Config
                from mmdet.registry import MODELS as REG
                import mmdet_rnnpool.models  # noqa: F401
                import mmdet_rnnpool.ops  # noqa: F401
                from mmdet.utils import register_all_modules
                register_all_modules()
                torch.manual_seed(0)
                model = REG.build(Config.fromfile(str(ROOT / config)).model)
                ckpt = work / f'{name}_init.pth'
                torch.save({'state_dict': model.state_dict()}, ckpt)
            images = args.images or str(synthetic_images(work / f'{name}_images', size, channels))
            out = work / name
            rc = export_mcu.main([str(ROOT / config), str(ckpt), '--out', str(out),
                                  '--calib-images', images, '--input-size', str(size[0]),
                                  str(size[1]), '--channels', str(channels)] + extra +
                                 (['--ram-budget', str(RAM_TARGETS[name]), '--stack-bytes',
                                   str(TARGET_STACK)] if args.targets else []))
            report = json.loads((out / 'report.json').read_text())
            report['rc'] = rc
            rows.append((name, report))
    print('| model | input | stream cut | row cache | flash KB | static RAM KB | stack B | '
          'peak RAM KB | MAdds M | QEMU instr / image M | instr / MAdd | host ms | host==ref | '
          'QEMU==host | streamed==unstreamed |')
    print('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|')
    for name, r in rows:
        def kb(v):
            return 'n/a' if v is None else f'{v / 1024:.1f}'
        instr = r['instructions']
        print(f'| {name} | {r["input"]} | {r["schedule"]["cut"]} | '
              f'{r.get("rnnpool_row_cache")} | {kb(r["flash_bytes"])} | '
              f'{kb(r["static_ram_bytes"])} | {r["stack_bytes"]} | {kb(r["peak_ram_bytes"])} | '
              f'{r["madds"] / 1e6:.1f} | {"n/a" if instr is None else f"{instr / 1e6:.1f}"} | '
              f'{r["instructions_per_madd"]} | {r["host_ms_per_image"]} | '
              f'{r["host_matches_reference"]} | {r["qemu_matches_host"]} | '
              f'{r["streamed_matches_unstreamed_reference"]} |')

if __name__ == '__main__':
    main()
