"""Export a detector's layers (backbone + head outputs) to ONNX and check it with onnxruntime.

    python tools/deployment/pytorch2onnx.py CONFIG CHECKPOINT --out model.onnx
        [--shape H W] [--image IMG] [--raw] [--opset 18] [--no-optimize]
        [--atol 1e-4] [--rtol 1e-3] [--cfg-options key=value ...] [--allow-partial-checkpoint]

The graph takes the normalised image batch ``image`` of a fixed shape (default: 480 x 640, or
240 x 320 for a one-channel model) and returns the head's per-level maps ``cls_score_{i}`` and
``bbox_pred_{i}`` (``--raw``: before S3FD's max-out background, as an MCU runs them); anchors,
decoding and NMS stay outside (``bbox_head.predict_by_feat`` takes the non-raw outputs as they
are). The same image (``--image``, or a fixed pseudo-random one) goes through PyTorch and
onnxruntime; the largest absolute difference is printed and the command exits with status 1 if
it exceeds ``atol + rtol * max|PyTorch output|`` or if either output holds a NaN or an infinity
(named with its count and first position). A checkpoint whose weights do not fit the config's
model is refused in one line (``--allow-partial-checkpoint`` exports it anyway).
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import mmdet_rnnpool  # noqa: E402,F401  (compat fixes + registration)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402

from mmdet_rnnpool.models.utils import DetectorLayers, image_to_input  # noqa: E402
from mmdet_rnnpool.utils.checkpoint import (ALLOW_PARTIAL_FLAG,  # noqa: E402
                                            init_detector_checked)
from mmdet_rnnpool.utils.cli import run_cli  # noqa: E402
from mmdet_rnnpool.utils.compat import apply_onnx_export_patches  # noqa: E402
from mmdet_rnnpool.utils.config_utils import load_config  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Export a detector\'s layers to ONNX')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', required=True, help='output ONNX file')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='fixed input height and width (default 480 640; 240 320 for a '
                        'one-channel model)')
    parser.add_argument('--image', help='image to compare PyTorch and onnxruntime on '
                        '(default: a fixed pseudo-random image)')
    parser.add_argument('--raw', action='store_true',
                        help='export the raw head convs (before the max-out background)')
    parser.add_argument('--opset', type=int, default=18, help='ONNX opset. Defaults to 18.')
    parser.add_argument('--no-optimize', action='store_true',
                        help='skip the ONNX graph optimisation pass (twice faster export)')
    parser.add_argument('--atol', type=float, default=1e-4,
                        help='absolute tolerance of the check. Defaults to 1e-4.')
    parser.add_argument('--rtol', type=float, default=1e-3,
                        help='tolerance relative to the largest output. Defaults to 1e-3.')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config, key=value')
    parser.add_argument(ALLOW_PARTIAL_FLAG, action='store_true',
                        help='export a checkpoint whose weights do not all fit the model (by '
                        'default such a checkpoint is refused)')
    args = parser.parse_args(argv)
    for path, what in ((args.config, 'config'), (args.checkpoint, 'checkpoint'),
                       (args.image, 'image')):
        if path is not None and not osp.isfile(path):
            parser.error(f'{what} file not found: {path}')
    if args.shape is not None and min(args.shape) < 8:
        parser.error(f'--shape {args.shape[0]} {args.shape[1]}: both sides must be >= 8')
    return args


def export(layers: DetectorLayers, inputs: torch.Tensor, out_file: str, opset: int,
           optimize: bool = True) -> List[str]:
    """Write ``layers`` on a fixed-shape ``inputs`` to ``out_file``; returns the output names."""
    # onnxscript's optimizer would otherwise delete L2Norm's eps (NaN on zero vectors)
    apply_onnx_export_patches()
    levels = layers.num_levels
    names = [f'cls_score_{i}' for i in range(levels)] + [f'bbox_pred_{i}' for i in range(levels)]
    # torch.export-based exporter (the TorchScript one cannot export RNNPool's unfold windows);
    # RNNPool's loops over time steps are unrolled and its window sizes fixed by the input.
    torch.onnx.export(
        layers, (inputs, ),
        out_file,
        input_names=['image'],
        output_names=names,
        opset_version=opset,
        dynamo=True,
        optimize=optimize,
        verbose=False)
    return names


class NonFiniteOutput(ValueError):
    """An output of PyTorch or onnxruntime holds a NaN or an infinity."""


def non_finite(array: np.ndarray) -> Optional[str]:
    """``None`` if every value is finite, else how many are not and where the first one is."""
    bad = ~np.isfinite(array)
    if not bad.any():
        return None
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    return (f'{int(bad.sum())} of {array.size} values are NaN / inf (first at {first}: '
            f'{array[first]})')


def compare(out_file: str, layers: DetectorLayers, inputs: torch.Tensor,
            names: Optional[List[str]] = None) -> List[float]:
    """Max absolute difference per output between onnxruntime and PyTorch on ``inputs``.

    Raises:
        RuntimeError: When the outputs differ in number or shape.
        NonFiniteOutput: When an output of either holds a NaN or an infinity (a NaN would make
            every comparison with it false, and so pass a tolerance check).
    """
    import onnxruntime as ort

    session = ort.InferenceSession(out_file, providers=['CPUExecutionProvider'])
    onnx_outs = session.run(None, {'image': inputs.cpu().numpy()})
    with torch.no_grad():
        torch_outs = layers(inputs)
    if len(onnx_outs) != len(torch_outs):
        raise RuntimeError(f'{out_file}: {len(onnx_outs)} outputs, PyTorch gives '
                           f'{len(torch_outs)}')
    names = names or [f'output {i}' for i in range(len(onnx_outs))]
    diffs = []
    for name, ort_out, ref in zip(names, onnx_outs, torch_outs):
        ref = ref.cpu().numpy()
        if ort_out.shape != ref.shape:
            raise RuntimeError(f'{out_file}: output shape {ort_out.shape} != PyTorch {ref.shape}')
        for who, values in (('onnxruntime', ort_out), ('PyTorch', ref)):
            problem = non_finite(values)
            if problem is not None:
                raise NonFiniteOutput(f'{out_file}: {who} output {name}: {problem}')
        diffs.append(float(np.abs(ort_out - ref).max()))
    return diffs


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    model = init_detector_checked(cfg, args.checkpoint, device='cpu',
                                  allow_partial=args.allow_partial_checkpoint)
    layers = DetectorLayers(model, raw=args.raw).eval()
    channels = getattr(model.backbone, 'in_channels', 3)
    shape = args.shape or ((240, 320) if channels == 1 else (480, 640))
    if args.image is not None:
        image = args.image
    else:
        rng = np.random.default_rng(0)
        image = rng.integers(0, 256, size=(shape[0], shape[1], 3), dtype=np.uint8)
    inputs = image_to_input(model, image, shape)

    names = export(layers, inputs, args.out, args.opset, optimize=not args.no_optimize)
    try:
        diffs = compare(args.out, layers, inputs, names)
    except NonFiniteOutput as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    with torch.no_grad():
        scale = max(float(t.abs().max()) for t in layers(inputs))
    tolerance = args.atol + args.rtol * scale
    print(f'exported {args.out}: input image {tuple(inputs.shape)}, outputs '
          f'{", ".join(names)}')
    worst = int(np.argmax(diffs))
    print(f'onnxruntime vs PyTorch: max abs diff {diffs[worst]:.3g} ({names[worst]}), '
          f'tolerance {tolerance:.3g} (largest output {scale:.3g})')
    if diffs[worst] > tolerance:
        print(f'error: {names[worst]} differs by {diffs[worst]:.3g} > {tolerance:.3g}',
              file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main))
