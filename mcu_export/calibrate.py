"""Calibration: the float model's activation ranges of every program tensor.

Forward hooks on the modules the converters name (:meth:`Converter.observe`) record min / max
(or a per-image percentile) over the calibration images, and keep the float maps of the first
images for the bias correction (:mod:`.bias_correction`) and the parity check.
"""
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn

from .converters.graph import ModelGraph
from .quantize import ActQuant, RangeObserver


class Observers:
    """Forward hooks that record the output range of named modules.

    Args:
        percentile (float, optional): Range percentile of the inner tensors (see
            :class:`RangeObserver`); the model's output tensors (head maps, logits) always
            keep min / max, since clipping a logit or a box delta moves a result. Defaults to
            None (min / max).
    """

    def __init__(self, percentile: Optional[float] = None) -> None:
        self.percentile = percentile
        self.ranges: Dict[str, RangeObserver] = {}
        self.handles = []
        self.last: Dict[str, torch.Tensor] = {}

    def watch(self, key: str, module: nn.Module, exact: bool = False) -> None:
        self.ranges[key] = RangeObserver(key, None if exact else self.percentile)

        def hook(_mod, _inp, out, key=key):
            if isinstance(out, (tuple, list)):  # a neck returning one map per input
                out = out[-1]
            self.ranges[key].update(out.detach().numpy())
            self.last[key] = out.detach()

        self.handles.append(module.register_forward_hook(hook))

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []

    def quant(self, key: str) -> ActQuant:
        return self.ranges[key].act_quant()


def _hwc(t: torch.Tensor) -> np.ndarray:
    t = t[0]
    return (t.permute(1, 2, 0) if t.dim() == 3 else t.reshape(1, 1, -1)).numpy()


@dataclass
class Calibration:
    """What :func:`calibrate` measured.

    Args:
        quant (dict[str, ActQuant]): Quantisation of every observed tensor.
        ranges (dict[str, RangeObserver]): The raw ranges.
        float_maps (list[dict]): Float tensors (HWC float64) of the first images, by name.
        float_outputs (dict[str, np.ndarray]): Float output tensors of the first image
            (detection heads, logits), by name.
    """

    quant: Dict[str, ActQuant]
    ranges: Dict[str, RangeObserver]
    float_maps: List[Dict[str, np.ndarray]] = field(default_factory=list)
    float_outputs: Dict[str, np.ndarray] = field(default_factory=dict)


def _exact(key: str, node, graph: ModelGraph) -> bool:
    outputs = {i for i, _ in graph.outputs}
    return key.startswith('head') or (node.index in outputs and key == node.name)


def calibrate(graph: ModelGraph, forward: Callable[[torch.Tensor], object], inputs: torch.Tensor,
              percentile: Optional[float] = None, keep_maps: int = 8,
              log=print) -> Calibration:
    """Runs the float model on every input, one image at a time, and records the ranges.

    Args:
        graph (ModelGraph): The traced graph (its nodes' modules are hooked).
        forward (callable): The layers-only computation.
        inputs (torch.Tensor): Normalised inputs ``(n, c, h, w)``.
        percentile (float, optional): See :class:`Observers`. Defaults to None.
        keep_maps (int): Images whose float tensors are kept. Defaults to 8.
        log (callable): Progress printer. Defaults to print.

    Returns:
        Calibration: ranges, quantisation, float maps.
    """
    obs = Observers(percentile)
    output_keys = set()
    outputs = {i for i, _ in graph.outputs}
    for node in graph.nodes:
        for key, module in node.converter.observe(node).items():
            obs.watch(key, module, exact=_exact(key, node, graph))
            if key.startswith('head') or (node.index in outputs and key == node.name):
                output_keys.add(key)
    float_maps, float_outputs = [], {}
    try:
        with torch.no_grad():
            for i in range(len(inputs)):
                forward(inputs[i:i + 1])
                if i == 0:
                    float_outputs = {k: _hwc(v) for k, v in obs.last.items() if k in output_keys}
                if i < keep_maps:
                    float_maps.append({k: _hwc(v).astype(np.float64)
                                       for k, v in obs.last.items()})
    finally:
        obs.remove()
    for node in graph.nodes:
        node.converter.finish_calibration(node, obs.ranges, float_maps)
    quant = {k: r.act_quant() for k, r in obs.ranges.items()}
    return Calibration(quant, obs.ranges, float_maps, float_outputs)


__all__ = ['Observers', 'Calibration', 'calibrate']


def model_inputs(model: nn.Module, images: Sequence[np.ndarray]):
    """Float input batch (normalised, model channel order) of camera images, and the transform
    ``(mean, std, perm)`` per camera channel that the first convolution folds in.

    Args:
        model (nn.Module): The model (its ``data_preprocessor``'s mean, std, channel order).
        images (Sequence[np.ndarray]): uint8 RGB / grey HWC images.
    """
    pre = model.data_preprocessor
    c = images[0].shape[2]
    mean = getattr(pre, 'mean', None)
    std = getattr(pre, 'std', None)
    mean = np.zeros(c) if mean is None else mean.detach().double().numpy().reshape(-1)
    std = np.ones(c) if std is None else std.detach().double().numpy().reshape(-1)
    if len(mean) != c:
        raise ValueError(f'data_preprocessor: mean has {len(mean)} channels, the images {c}')
    # camera images are RGB; a model without bgr_to_rgb sees BGR: model channel k = camera
    # channel perm[k]
    perm = np.arange(c)
    # mmengine / mmdet: _channel_conversion; mmpretrain's ClsDataPreprocessor: to_rgb
    to_rgb = getattr(pre, '_channel_conversion', None)
    to_rgb = getattr(pre, 'to_rgb', False) if to_rgb is None else to_rgb
    if c == 3 and not to_rgb:
        perm = perm[::-1].copy()
    # mean / std are in the model's channel order; express them per camera channel
    mean_cam, std_cam = np.empty(c), np.empty(c)
    mean_cam[perm], std_cam[perm] = mean, std
    x = np.stack(images).astype(np.float64)[..., perm]
    x = (x - mean) / std
    tensor = torch.from_numpy(x).permute(0, 3, 1, 2).float()
    return tensor, (mean_cam, std_cam, perm)


__all__ += ['model_inputs']
