"""Empirical bias correction on the integer reference interpreter.

Layer by layer in execution order, each convolution's mean per-channel output error (integer
program vs float model, the already corrected layers upstream included) over a few images is
removed through its int32 bias. Rounding and clipping of int8 activations are biased (a ReLU
after a noisy input, the rounding of small weights), and that bias, unlike the noise, adds up
layer after layer.

The integer side is :func:`mcu_export.reference.run_program` itself, through its per-layer
callback: the images run side by side (one thread each) and meet at every correctable op, where
the op's biases are corrected from all the images' inputs before any of them goes on. So the
corrected program is exactly what the reference (and the C) computes - there is no second
interpreter to disagree with it.
"""
import threading
from typing import Dict, List, Optional, Sequence

import numpy as np

from .quantize import ActQuant
from .reference import add, conv2d, run_program


def bias_correct_conv(layer, xs: Sequence[np.ndarray], floats: Sequence[np.ndarray],
                      out_q: ActQuant) -> None:
    """Cancels a convolution's mean per-channel output error through its int32 bias (in place).

    Args:
        layer (ConvLayer): The layer (its bias is replaced).
        xs (list[np.ndarray]): Its integer inputs, one per image.
        floats (list[np.ndarray]): The float model's outputs (HWC), one per image.
        out_q (ActQuant): Output quantisation.
    """
    err_sum = np.zeros(layer.out_shape[2])
    count = np.zeros(layer.out_shape[2])
    lo = out_q.dequantize(np.array(layer.act_min)) if layer.act_min > -128 else -np.inf
    for xi, f in zip(xs, floats):
        d = out_q.dequantize(conv2d(layer, xi)) - f
        # where a fused ReLU clamps, the pre-activation error is not observable
        valid = f > lo + out_q.scale
        err_sum += (d * valid).sum(axis=(0, 1))
        count += valid.sum(axis=(0, 1))
    err = np.where(count > 0, err_sum / np.maximum(count, 1), 0.0)
    # one accumulator unit is out_scale * multiplier / 2^(31 + rshift - 31) output units
    acc_per_real = 2.0**layer.rshift.astype(np.float64) / (
        layer.multiplier.astype(np.float64) * out_q.scale)
    bias = layer.bias.astype(np.int64) - np.round(err * acc_per_real).astype(np.int64)
    layer.bias = np.clip(bias, -2**31, 2**31 - 1).astype(np.int32)


def _is_conv(op) -> bool:
    return all(hasattr(op, a) for a in ('weights', 'bias', 'multiplier', 'rshift', 'stride'))


def _is_block(op) -> bool:
    return all(hasattr(op, a) for a in ('expand', 'depthwise', 'project', 'residual'))


def _is_head_pair(op) -> bool:
    return hasattr(op, 'loc') and hasattr(op, 'conf') and _is_conv(op.loc)


def correctable(op) -> bool:
    """Whether the op holds convolutions (a conv, a block, a head stage)."""
    return _is_conv(op) or _is_block(op) or _is_head_pair(op)


class _Corrector:
    def __init__(self, quant: Dict[str, ActQuant], float_maps: Sequence[Dict[str, np.ndarray]]):
        self.quant, self.float_maps = quant, float_maps

    def conv(self, layer, xs: List[np.ndarray]) -> List[np.ndarray]:
        if layer.name in self.float_maps[0] and layer.bias is not None:
            bias_correct_conv(layer, xs, [m[layer.name] for m in self.float_maps],
                              self.quant[layer.name])
        return [conv2d(layer, x) for x in xs]

    def op(self, op, xs: List[np.ndarray]) -> list:
        """Corrects every convolution of ``op`` (in run order) and returns its outputs."""
        if _is_head_pair(op):
            return list(zip(self.conv(op.loc, xs), self.conv(op.conf, xs)))
        if _is_block(op):
            ys = self.conv(op.expand, xs) if op.expand is not None else xs
            ys = self.conv(op.project, self.conv(op.depthwise, ys))
            if op.residual is not None:
                ys = [add(op.residual, x, y) for x, y in zip(xs, ys)]
            return ys
        return self.conv(op, xs)


def correct_biases(program, quant: Dict[str, ActQuant], images: Sequence[np.ndarray],
                   float_maps: Sequence[Dict[str, np.ndarray]], timeout: float = 3600.0) -> None:
    """Empirical bias correction of every convolution of a program (in place).

    Args:
        program (LayerProgram): The program (its layers' biases are replaced).
        quant (dict[str, ActQuant]): Quantisation of every tensor.
        images (Sequence[np.ndarray]): uint8 HWC images.
        float_maps (Sequence[dict]): The float model's tensors (HWC) of each image, by program
            tensor name (:func:`mcu_export.calibrate.calibrate`).
        timeout (float): Seconds an image may wait for the others at one op. Defaults to 3600.
    """
    n = min(len(images), len(float_maps))
    if n == 0:
        return
    corrector = _Corrector(quant, float_maps[:n])
    inputs: List[Optional[np.ndarray]] = [None] * n
    shared = {}

    def action():  # one thread, all images at the same op
        shared['outs'] = corrector.op(shared['op'], list(inputs))

    barrier = threading.Barrier(n, action=action, timeout=timeout)
    errors: List[BaseException] = []

    def run(i):
        def on_layer(op, xs, output):
            if not correctable(op):
                return None
            inputs[i] = xs[0]
            shared['op'] = op
            barrier.wait()
            out = shared['outs'][i]
            if isinstance(out, tuple) and not isinstance(output, tuple):
                # a head sink whose output is its loc and conf maps side by side
                out = np.concatenate(out, axis=2)
            return out
        try:
            run_program(program, images[i], on_layer=on_layer)
        except threading.BrokenBarrierError:
            pass
        except BaseException as err:  # noqa: B902  (re-raised below)
            errors.append(err)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i, ), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    if barrier.broken:
        raise RuntimeError('bias correction: the images did not reach the same ops')


__all__ = ['bias_correct_conv', 'correctable', 'correct_biases']
