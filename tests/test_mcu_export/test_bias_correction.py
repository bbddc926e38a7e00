"""Bias correction runs on the integer reference itself (reference.run_program's per-layer
callback): every op is seen in run order, a returned array replaces the output downstream, and
the corrected convolutions' mean per-channel error against the float maps vanishes."""
import copy

import numpy as np

from mcu_export.bias_correction import correct_biases, correctable
from mcu_export.quantize import ActQuant
from mcu_export.random_model import random_program
from mcu_export.reference import run_program


def _program(seed=0):
    return random_program(np.random.default_rng(seed))


def test_on_layer_sees_every_op_in_order_and_can_replace_outputs():
    program = _program()
    image = np.random.default_rng(1).integers(0, 256, program.stream.image_shape, np.uint8)
    seen = []
    tensors, dets = run_program(program, image, on_layer=lambda op, xs, y: seen.append(op.name))
    stream_names = [s.name for s in program.stream.stages]
    step_names = [s.layer.name for s in program.steps]
    assert seen == stream_names + step_names
    # replacing the last step's input producer changes what the last step reads
    target = program.steps[0].layer.name

    def zero(op, xs, y):
        return np.zeros_like(y) if op.name == target else None

    replaced, _ = run_program(program, image, on_layer=zero)
    assert not replaced[program.steps[0].output].any()
    assert np.array_equal(replaced[program.stream.output], tensors[program.stream.output])


def test_correction_cancels_the_mean_error_of_every_conv():
    """Float maps = the program's own dequantised outputs + a per-channel offset: after the
    correction each conv's mean error (away from the clamps) is below half an int8 step."""
    program = _program(3)
    rng = np.random.default_rng(4)
    images = [rng.integers(0, 256, program.stream.image_shape, np.uint8) for _ in range(3)]
    convs = {}

    def collect(op, xs, y):
        if correctable(op) and hasattr(op, 'weights'):
            convs.setdefault(op.name, []).append(y)

    for image in images:
        run_program(program, image, on_layer=collect)
    assert convs, 'the random program has convolutions'
    quant, float_maps = {}, [dict() for _ in images]
    offsets = {}
    for name, ys in convs.items():
        layer = next(op for op in _ops(program) if op.name == name)
        q = ActQuant(0.05, layer.output_offset)
        quant[name] = q
        # up to 6 steps, within each channel's headroom (a clamped output cannot follow)
        deq = np.stack([q.dequantize(y) for y in ys])
        up = q.dequantize(np.array(layer.act_max)) - deq.max(axis=(0, 1, 2)) - q.scale
        down = deq.min(axis=(0, 1, 2)) - q.dequantize(np.array(layer.act_min)) - q.scale
        offsets[name] = np.clip(rng.uniform(-0.3, 0.3, ys[0].shape[2]),
                                -np.maximum(down, 0), np.maximum(up, 0))
        for maps, y in zip(float_maps, ys):
            maps[name] = q.dequantize(y) + offsets[name]
    corrected = copy.deepcopy(program)
    correct_biases(corrected, quant, images, float_maps)
    changed = 0
    for name in convs:
        before = next(op for op in _ops(program) if op.name == name).bias
        after = next(op for op in _ops(corrected) if op.name == name).bias
        changed += int((before != after).any())
    assert changed > 0
    assert max(np.abs(o).max() for o in offsets.values()) > 0.05  # several steps moved
    # every conv, run with its corrected upstream: where no output is clamped, the mean
    # error over the pixels the correction observes is below half a step
    outs = {name: [] for name in convs}
    for image in images:
        run_program(corrected, image, on_layer=lambda op, xs, y: outs[op.name].append(y)
                    if op.name in outs else None)
    checked = 0
    for name, ys in outs.items():
        q = quant[name]
        layer = next(op for op in _ops(corrected) if op.name == name)
        floats = np.stack([m[name] for m in float_maps])
        ys = np.stack(ys)
        lo = q.dequantize(np.array(layer.act_min)) if layer.act_min > -128 else -np.inf
        valid = floats > lo + q.scale
        err = ((q.dequantize(ys) - floats) * valid).sum(axis=(0, 1, 2)) / np.maximum(
            valid.sum(axis=(0, 1, 2)), 1)
        assert np.all(np.isfinite(err))
        free = ~((ys == layer.act_min) | (ys == layer.act_max)).any(axis=(0, 1, 2))
        free &= valid.any(axis=(0, 1, 2))
        assert np.abs(err[free]).max(initial=0) < 0.5 * q.scale, (name, err / q.scale)
        checked += int((free & (np.abs(offsets[name]) > q.scale)).sum())
    assert checked >= 4  # channels moved by more than a step, now within half a step


def _ops(program):
    return list(program.stream.stages) + [s.layer for s in program.steps]
