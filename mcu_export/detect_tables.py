"""Decoding tables of the integer SSD post-processing (``rp_detect_level``).

The float decoder (mmdet ``DeltaXYWHBBoxCoder`` with SSD variances, softmax scores) becomes
look-ups indexed by the int8 head codes: every table entry is the float decoder's output for
one code, rounded to Q4 pixels (boxes) or Q15 (scores).
"""
import math
from typing import Sequence

import numpy as np

from .ir import DetectLevel
from .quantize import ActQuant


def build_detect_level(loc: str, conf: str, loc_quant: ActQuant, conf_quant: ActQuant,
                       anchor_w: float, anchor_h: float, stride_x: float, stride_y: float,
                       center_offset: float = 0.5, fg_index: int = 0,
                       means: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
                       stds: Sequence[float] = (0.1, 0.1, 0.2, 0.2),
                       wh_ratio_clip: float = 16 / 1000) -> DetectLevel:
    """Tables of one level with one anchor per location.

    Args:
        loc (str): Loc tensor name.
        conf (str): Conf tensor name.
        loc_quant (ActQuant): Quantisation of the loc tensor.
        conf_quant (ActQuant): Quantisation of the conf tensor.
        anchor_w (float): Anchor width in pixels.
        anchor_h (float): Anchor height in pixels.
        stride_x (float): Anchor step along x in pixels.
        stride_y (float): Anchor step along y in pixels.
        center_offset (float): Anchor centre of cell (x, y) is ``(x + offset) * stride``.
            Defaults to 0.5.
        fg_index (int): Foreground logit. Defaults to 0 (mmdet: background is the last class).
        means (Sequence[float]): Coder means. Defaults to (0, 0, 0, 0).
        stds (Sequence[float]): Coder stds (SSD variances). Defaults to (0.1, 0.1, 0.2, 0.2).
        wh_ratio_clip (float): mmdet's clip of dw/dh to +-|log(wh_ratio_clip)|.
            Defaults to 16 / 1000.

    Returns:
        DetectLevel: tables.
    """
    codes = np.arange(256) - 128
    deq = loc_quant.dequantize(codes)
    max_ratio = abs(math.log(wh_ratio_clip))
    dx = deq * stds[0] + means[0]
    dy = deq * stds[1] + means[1]
    dw = np.clip(deq * stds[2] + means[2], -max_ratio, max_ratio)
    dh = np.clip(deq * stds[3] + means[3], -max_ratio, max_ratio)
    diff = np.arange(-255, 256) * conf_quant.scale
    score = np.round(32767.0 / (1.0 + np.exp(-diff)))
    return DetectLevel(
        loc=loc,
        conf=conf,
        fg_index=fg_index,
        anchor_x0=int(round(16 * center_offset * stride_x)),
        anchor_y0=int(round(16 * center_offset * stride_y)),
        step_x=int(round(16 * stride_x)),
        step_y=int(round(16 * stride_y)),
        ctr_x=np.round(16 * dx * anchor_w).astype(np.int32),
        ctr_y=np.round(16 * dy * anchor_h).astype(np.int32),
        half_w=np.round(8 * anchor_w * np.exp(dw)).astype(np.int32),
        half_h=np.round(8 * anchor_h * np.exp(dh)).astype(np.int32),
        score=np.clip(score, 0, 32767).astype(np.int16))


def score_to_q15(score: float) -> int:
    """A probability threshold in Q15."""
    return int(round(float(score) * 32767))


__all__ = ['build_detect_level', 'score_to_q15']
