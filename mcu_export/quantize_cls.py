"""Float -> int8 for the classifier ops: GAP, fully connected, classification output.

* GAP: the mean of values lies inside their range, so the output reuses the input's scale and
  zero point by default (no calibration needed, nothing clipped); the multiplier is
  ``s_in / (s_out h w)``.
* Linear: per-output-row symmetric int8 weights, int32 bias in ``s_in s_w[o]`` units, one
  multiplier / shift per row for ``s_in s_w[o] / s_out``, the activation as the clamp.
* Classify: the exp table for the logits' scale.
"""
from typing import Optional, Sequence

import numpy as np

from .ops.classify import ClassifyOp, exp_table_q15
from .ops.gap import GapOp
from .ops.linear import LinearOp
from .quantize import (ActQuant, quantize_bias, quantize_multiplier, quantize_multipliers,
                       quantize_weights_per_channel)


def quantize_gap(name: str, in_shape, in_q: ActQuant,
                 out_q: Optional[ActQuant] = None) -> GapOp:
    """A GAP op for an input quantised with ``in_q``.

    Args:
        name (str): Layer name.
        in_shape (tuple): Input ``(h, w, c)``.
        in_q (ActQuant): Input quantisation.
        out_q (ActQuant, optional): Output quantisation; None (default) reuses ``in_q``.

    Returns:
        GapOp: validated op.
    """
    out_q = in_q if out_q is None else out_q
    h, w, _ = (int(v) for v in in_shape)
    mult, rshift = quantize_multiplier(in_q.scale / (out_q.scale * h * w))
    op = GapOp(name, tuple(int(v) for v in in_shape), mult, rshift,
               input_offset=-int(in_q.zero_point), output_offset=int(out_q.zero_point))
    op.validate()
    return op


def quantize_linear(name: str, weight: np.ndarray, bias: Optional[np.ndarray], in_q: ActQuant,
                    out_q: ActQuant, act: Optional[str] = None) -> LinearOp:
    """A fully connected op from float ``weight [out, in]`` and ``bias [out]``.

    Args:
        name (str): Layer name.
        weight (np.ndarray): Float weights (torch ``nn.Linear.weight`` layout).
        bias (np.ndarray, optional): Float bias.
        in_q (ActQuant): Input quantisation.
        out_q (ActQuant): Output quantisation.
        act (str, optional): Fused activation (None, 'relu', 'relu6'). Defaults to None.

    Returns:
        LinearOp: validated op.
    """
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim != 2:
        raise ValueError(f'layer {name}: linear weight must be 2-D [out, in], got {w.shape}')
    qw, w_scale = quantize_weights_per_channel(w)
    qb = quantize_bias(bias, in_q.scale, w_scale)
    mult, rshift = quantize_multipliers(in_q.scale * w_scale / out_q.scale)
    lo, hi = out_q.clamp(act)
    op = LinearOp(name, qw, qb, mult, rshift, input_offset=-int(in_q.zero_point),
                  output_offset=int(out_q.zero_point), act_min=lo, act_max=hi)
    op.validate()
    return op


def quantize_classify(name: str, logits: str, num_classes: int, logit_q: ActQuant,
                      class_names: Sequence[str] = ()) -> ClassifyOp:
    """The classification output reading the tensor ``logits``, quantised with ``logit_q``."""
    op = ClassifyOp(name, logits, int(num_classes), exp_table_q15(logit_q.scale),
                    list(class_names))
    op.validate()
    return op


__all__ = ['quantize_gap', 'quantize_linear', 'quantize_classify']
