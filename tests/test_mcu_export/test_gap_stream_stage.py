"""GAP as a sink stage of ``rp_stream`` (``RP_STAGE_GAP``): each row is added to c int32 sums as
it arrives and the 1 x 1 x c output is written after the last one; the result must equal the
whole-map reference of the same layers, on the host and on the Cortex-M4 in QEMU, and the
stream's buffer size must be the stage's one-row ring + its sums (``GapOp.ring_bytes``)."""
import shutil

import numpy as np
import pytest

from mcu_export.ctest import (ProgramBuilder, arm_toolchain_missing, build_and_run_m4,
                              build_program, run_program, split_outputs)
from mcu_export.ops.base import align4, c_array
from mcu_export.quantize import ActQuant
from mcu_export.quantize_cls import quantize_gap
from mcu_export.random_model import random_conv

pytestmark = [pytest.mark.mcu]


def _emit(layer, prefix):
    """C of a conv layer (the op's own emission, or the pre-registry cemit one)."""
    if hasattr(layer, 'emit'):
        return layer.emit(prefix)
    from mcu_export.cemit import emit_layer
    return emit_layer(layer, prefix)


def _run(layer, x):
    if hasattr(layer, 'reference'):
        return layer.reference([x])
    from mcu_export import reference as ref
    return ref.conv2d(layer, x)


def _stream_cases(rng):
    """(name, C lines, stage initialisers, image, expected output, expected buffer bytes)."""
    cases = []
    # camera -> 3x3/2 conv (odd channel count) -> depthwise -> GAP (the stream's output)
    img = (21, 18, 3)
    stem = random_conv(rng, 'stem', img, 7, (3, 3), (2, 2), (1, 1), act='relu')
    stem.input_offset = 128
    dw = random_conv(rng, 'dw', stem.out_shape, 0, (3, 3), (1, 1), (1, 1), depthwise=True)
    dw.input_offset = -stem.output_offset
    gap = quantize_gap('gap', dw.out_shape, ActQuant(0.05, dw.output_offset),
                       ActQuant(0.02, 3))
    cases.append(('conv_dw_gap', [stem, dw], gap, img))
    # camera -> GAP directly (c = 3: the channel tail only), 300 pixels (> 256 per chunk)
    img2 = (15, 20, 3)
    gap2 = quantize_gap('gap2', img2, ActQuant(1.0, -128), ActQuant(0.7, -10))
    cases.append(('camera_gap', [], gap2, img2))
    return cases


def stream_gap_program(seed=77):
    rng = np.random.default_rng(seed)
    b = ProgramBuilder()
    expected = []
    for name, convs, gap, img_shape in _stream_cases(rng):
        p = f's_{name}'
        image = rng.integers(0, 256, img_shape).astype(np.uint8)
        x = (image.astype(np.int16) - 128).astype(np.int8)
        stages, rings = [], 0
        for k, conv in enumerate(convs):
            lines, ident = _emit(conv, f'{p}_l{k}')
            b.decls += lines
            kind = 'RP_STAGE_DWCONV' if conv.depthwise else 'RP_STAGE_CONV'
            stages.append(f'{{.kind = {kind}, .src = {k - 1}, .conv = &{ident}}}')
            kh, sh = conv.kernel[0], conv.stride[0]
            rings += align4(max(kh, sh) * conv.in_shape[1] * conv.in_shape[2])
            x = _run(conv, x)
        lines, ident = gap.emit(f'{p}_gap')
        b.decls += lines
        stages.append(gap.c_stage(ident, len(convs) - 1))
        rings += gap.ring_bytes()
        h, w, c = img_shape
        n = len(stages)
        b.decls += c_array(f'{p}_img', image, np.uint8)
        b.decls += [f'static const rp_stream_stage {p}_stages[] = {{', *(f'    {s},' for s in stages),
                    '};',
                    f'static const rp_stream {p} = {{.image_h = {h}, .image_w = {w}, '
                    f'.image_c = {c}, .num_stages = {n}, .stages = {p}_stages, '
                    f'.output_stage = {n - 1}, .pad_bottom = 0, .pad_right = 0, '
                    f'.pad_stage = {n - 1}}};',
                    f'static int {p}_read(void *user, uint8_t *dst, int32_t row0, int32_t nrows)',
                    '{', '    (void)user;',
                    f'    memcpy(dst, {p}_img + (size_t)row0 * {w * c}, (size_t)nrows * {w * c});',
                    '    return 0;', '}', f'static int8_t {p}_out[{gap.in_shape[2]}];',
                    f'static uint32_t {p}_buf[{rings // 4 + 1}];']
        b.body += [f'emit_u32((uint32_t)rp_stream_get_buffer_size(&{p}));',
                   f'check(rp_stream_run(&{p}, {p}_buf, sizeof {p}_buf, {p}_read, NULL, NULL, '
                   f'{p}_out), "{p}");', f'emit({p}_out, {gap.in_shape[2]});',
                   # twice: the sums restart at every run
                   f'check(rp_stream_run(&{p}, {p}_buf, sizeof {p}_buf, {p}_read, NULL, NULL, '
                   f'{p}_out), "{p} again");', f'emit({p}_out, {gap.in_shape[2]});',
                   f'check(rp_stream_run(&{p}, (uint8_t *){p}_buf + 1, sizeof {p}_buf - 1, '
                   f'{p}_read, NULL, NULL, {p}_out) == RP_ARG_ERROR ? RP_OK : RP_NO_IMPL, '
                   '"unaligned sums rejected");']
        y = gap.reference([x]).tobytes()
        expected += [np.uint32(rings).tobytes(), y, y]
    return b.source(), expected


def _compare(raw, expected):
    got = split_outputs(raw, [len(e) for e in expected])
    for i, (g, e) in enumerate(zip(got, expected)):
        assert g == e, f'output {i} differs'


@pytest.mark.skipif(shutil.which('gcc') is None, reason='host gcc not found')
def test_gap_stream_stage_host(tmp_path):
    source, expected = stream_gap_program()
    _compare(run_program(build_program(source, tmp_path)), expected)


def test_gap_stream_stage_m4_qemu(tmp_path):
    reason = arm_toolchain_missing()
    if reason:
        pytest.skip(reason)
    source, expected = stream_gap_program()
    raw, dis = build_and_run_m4(source, tmp_path, timeout=300)
    assert '\tsxtab16' in dis[dis.find('<gap_sum4>:\n'):]
    _compare(raw, expected)
