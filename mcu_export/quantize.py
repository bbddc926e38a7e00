"""Post-training int8 quantisation helpers for the Cortex-M4 exporter.

BatchNorm folding, per-channel symmetric weight quantisation, per-tensor asymmetric activation
ranges (min/max calibration) and the fixed-point multiplier / right-shift pairs the runtime's
``rp_requantize`` uses (``real_scale ~= multiplier * 2**-rshift``, multiplier in [2^30, 2^31)).
"""
import math
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

Q14 = 1 << 14
BIAS_LIMIT = 1 << 28


def fold_batchnorm(weight: np.ndarray, bias: Optional[np.ndarray], bn_mean: np.ndarray,
                   bn_var: np.ndarray, bn_weight: Optional[np.ndarray],
                   bn_bias: Optional[np.ndarray], eps: float = 1e-5,
                   depthwise: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """Folds an inference-mode BatchNorm into the preceding convolution.

    Args:
        weight (np.ndarray): Conv weight ``[co, ci, kh, kw]`` (torch layout).
        bias (np.ndarray, optional): Conv bias ``[co]``.
        bn_mean (np.ndarray): Running mean ``[co]``.
        bn_var (np.ndarray): Running variance ``[co]``.
        bn_weight (np.ndarray, optional): Gamma ``[co]`` (None: ones).
        bn_bias (np.ndarray, optional): Beta ``[co]`` (None: zeros).
        eps (float): BatchNorm epsilon. Defaults to 1e-5.
        depthwise (bool): Unused by the maths (the output channel is axis 0 either way); kept for
            call-site clarity. Defaults to False.

    Returns:
        tuple: folded float64 ``(weight, bias)``.
    """
    co = weight.shape[0]
    gamma = np.ones(co) if bn_weight is None else np.asarray(bn_weight, dtype=np.float64)
    beta = np.zeros(co) if bn_bias is None else np.asarray(bn_bias, dtype=np.float64)
    b = np.zeros(co) if bias is None else np.asarray(bias, dtype=np.float64)
    factor = gamma / np.sqrt(np.asarray(bn_var, dtype=np.float64) + eps)
    w = np.asarray(weight, dtype=np.float64) * factor.reshape((-1, ) + (1, ) * (weight.ndim - 1))
    return w, (b - np.asarray(bn_mean, dtype=np.float64)) * factor + beta


def quantize_weights_per_channel(weight: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 quantisation per output channel (axis 0).

    Args:
        weight (np.ndarray): Float weights, output channel first.

    Returns:
        tuple: int8 weights (same shape) and float64 scales ``[co]``; an all-zero channel gets
        scale 1 (its weights are 0 anyway).
    """
    w = np.asarray(weight, dtype=np.float64)
    amax = np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
    scale = np.where(amax > 0, amax / 127.0, 1.0)
    q = np.round(w / scale.reshape((-1, ) + (1, ) * (w.ndim - 1)))
    return np.clip(q, -127, 127).astype(np.int8), scale


def quantize_bias(bias: Optional[np.ndarray], input_scale: float,
                  weight_scales: np.ndarray) -> np.ndarray:
    """int32 bias in units of ``input_scale * weight_scale[c]`` (saturated to +-2^28)."""
    if bias is None:
        return np.zeros(len(weight_scales), dtype=np.int32)
    q = np.round(np.asarray(bias, dtype=np.float64) / (input_scale * weight_scales))
    return np.clip(q, -BIAS_LIMIT, BIAS_LIMIT).astype(np.int32)


def quantize_multiplier(real_scale: float) -> Tuple[int, int]:
    """Fixed-point ``(multiplier, rshift)`` with ``real_scale ~= multiplier / 2**rshift``.

    Args:
        real_scale (float): Non-negative scale, below 2^30.

    Returns:
        tuple: multiplier in [2^30, 2^31) (0 for a zero scale) and rshift in [1, 62].
    """
    if not math.isfinite(real_scale) or real_scale < 0:
        raise ValueError(f'quantize_multiplier: scale must be finite and >= 0, got {real_scale}')
    if real_scale == 0:
        return 0, 1
    mant, exp = math.frexp(real_scale)  # real = mant * 2**exp, mant in [0.5, 1)
    mult = int(round(mant * (1 << 31)))
    if mult == 1 << 31:
        mult //= 2
        exp += 1
    rshift = 31 - exp
    if rshift < 1:
        raise ValueError(f'quantize_multiplier: scale {real_scale} too large (>= 2^30)')
    if rshift > 62:  # tiny scales: lose mantissa bits rather than exceed the 62-bit shift
        mult = (mult + (1 << (rshift - 63))) >> (rshift - 62)
        rshift = 62
    return mult, rshift


def quantize_multipliers(real_scales) -> Tuple[np.ndarray, np.ndarray]:
    """Vector form of :func:`quantize_multiplier`: int32 multipliers and int8 shifts."""
    pairs = [quantize_multiplier(float(s)) for s in np.ravel(real_scales)]
    return (np.array([p[0] for p in pairs], dtype=np.int32),
            np.array([p[1] for p in pairs], dtype=np.int8))


@dataclass
class ActQuant:
    """Per-tensor asymmetric int8 activation quantisation: real = scale * (q - zero_point).

    Args:
        scale (float): Step size.
        zero_point (int): Integer representing 0.0, in [-128, 127].
    """

    scale: float
    zero_point: int

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Float -> int8."""
        return np.clip(np.round(x / self.scale) + self.zero_point, -128, 127).astype(np.int8)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        """int8 -> float."""
        return (q.astype(np.float64) - self.zero_point) * self.scale

    def clamp(self, act: Optional[str]) -> Tuple[int, int]:
        """Quantised clamp range of a fused activation (None, 'relu' or 'relu6')."""
        if act is None:
            return -128, 127
        lo = max(-128, self.zero_point)
        if act == 'relu':
            return lo, 127
        if act == 'relu6':
            return lo, int(min(127, self.zero_point + round(6.0 / self.scale)))
        raise ValueError(f'unsupported fused activation {act!r} (use None, relu or relu6)')


def act_quant_from_range(lo: float, hi: float) -> ActQuant:
    """Activation quantisation covering ``[lo, hi]`` (widened to include 0).

    Args:
        lo (float): Calibrated minimum.
        hi (float): Calibrated maximum.

    Returns:
        ActQuant: scale and zero point.
    """
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < 1e-8:
        hi = lo + 1e-8
    scale = (hi - lo) / 255.0
    zp = int(np.clip(round(-128 - lo / scale), -128, 127))
    return ActQuant(scale, zp)


class RangeObserver:
    """Range of a tensor over calibration images: min / max, or per-image percentiles.

    With ``percentile`` set, each image contributes its ``percentile``-th and
    ``(100 - percentile)``-th values instead of its extremes (the widest over the images is
    kept), so that a handful of outlier activations do not coarsen the step of all others;
    the outliers are then clipped.

    Args:
        name (str): Tensor name (for error messages). Defaults to ''.
        percentile (float, optional): Upper percentile in (50, 100]; None for min / max.
            Defaults to None.
    """

    def __init__(self, name: str = '', percentile: Optional[float] = None) -> None:
        if percentile is not None and not 50.0 < float(percentile) <= 100.0:
            raise ValueError(f'tensor {name!r}: percentile must be in (50, 100], got '
                             f'{percentile}')
        self.name = name
        self.percentile = percentile
        self.lo = math.inf
        self.hi = -math.inf

    def update(self, x: np.ndarray) -> None:
        """Adds one image's values (a batch counts as one image)."""
        x = np.asarray(x)
        if not x.size:
            return
        if self.percentile is None or self.percentile == 100.0:
            lo, hi = float(x.min()), float(x.max())
        else:
            lo, hi = np.percentile(x, [100.0 - self.percentile, self.percentile])
        self.lo = min(self.lo, float(lo))
        self.hi = max(self.hi, float(hi))

    def act_quant(self) -> ActQuant:
        """Quantisation of the observed range."""
        if not math.isfinite(self.lo):
            raise ValueError(f'tensor {self.name!r}: no calibration data observed')
        return act_quant_from_range(self.lo, self.hi)


def add_params(s1: float, s2: float, s_out: float, left_shift: int = 20) -> dict:
    """Multipliers of ``rp_add_s8`` for input scales ``s1, s2`` and output scale ``s_out``."""
    twice_max = 2.0 * max(s1, s2)
    m1, r1 = quantize_multiplier(s1 / twice_max)
    m2, r2 = quantize_multiplier(s2 / twice_max)
    mo, ro = quantize_multiplier(twice_max / ((1 << left_shift) * s_out))
    return dict(input1_multiplier=m1, input1_rshift=r1, input2_multiplier=m2, input2_rshift=r2,
                output_multiplier=mo, output_rshift=ro, left_shift=left_shift)


def activation_tables() -> tuple:
    """Q14 sigmoid and tanh tables (513 samples on [-8, 8], step 1/32) for FastGRNN cells."""
    x = np.arange(513) / 32.0 - 8.0
    sig = np.round(Q14 / (1.0 + np.exp(-x)))
    tanh = np.round(Q14 * np.tanh(x))
    return sig.astype(np.int16), tanh.astype(np.int16)


def sigmoid_q14(x: float) -> int:
    """``round(sigmoid(x) * 2**14)`` (for FastGRNN's zeta / nu)."""
    return int(round(Q14 / (1.0 + math.exp(-float(x)))))


__all__ = [
    'fold_batchnorm', 'quantize_weights_per_channel', 'quantize_bias', 'quantize_multiplier',
    'quantize_multipliers', 'ActQuant', 'act_quant_from_range', 'RangeObserver', 'add_params',
    'sigmoid_q14', 'activation_tables'
]
