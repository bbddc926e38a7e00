"""Integer arithmetic shared by the ops' references (the C's ``rp_internal.h`` twins)."""
import numpy as np

Q14 = 1 << 14
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def requantize(acc, multiplier, rshift) -> np.ndarray:
    """``(acc * multiplier + 2**(rshift-1)) >> rshift`` saturated to int32 (``rp_requantize``)."""
    acc = np.asarray(acc, dtype=np.int64)
    mult = np.asarray(multiplier, dtype=np.int64)
    rshift = np.asarray(rshift, dtype=np.int64)
    # acc * mult < 2**62 in magnitude; numpy int64 suffices.
    res = (acc * mult + np.left_shift(np.int64(1), rshift - 1)) >> rshift
    return np.clip(res, INT32_MIN, INT32_MAX)


def to_int8(v, lo: int, hi: int, offset: int) -> np.ndarray:
    """Adds the output zero point (saturating like the C) and clamps to ``[lo, hi]``."""
    v = np.clip(v, INT32_MIN + 128, INT32_MAX - 128) + offset
    return np.clip(v, lo, hi).astype(np.int8)


__all__ = ['Q14', 'INT32_MIN', 'INT32_MAX', 'requantize', 'to_int8']
