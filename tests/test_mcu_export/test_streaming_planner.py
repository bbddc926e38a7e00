"""In-place inverted residual blocks in the arena plan (``plan_arena(in_place=True)``).

``mbconv_in_place_ok`` must agree with a row-level replay of ``rp_mbconv_s8``'s reads and writes
(no output row may land on an input row that is still to be read), and a generated project
planned in place must still equal the integer reference bit for bit.
"""
import shutil
import subprocess

import numpy as np
import pytest

from mcu_export.codegen import tensor_order, write_project
from mcu_export import reference as ref
from mcu_export.planner import mbconv_in_place_ok, mbconv_min_scratch_bytes, plan_arena
from mcu_export.random_model import random_mbconv, random_program
from mcu_export.reference import run_program

pytestmark = pytest.mark.mcu


def _replay_is_safe(layer) -> bool:
    """Replays rp_mbconv_s8 row by row with input and output at the same address."""
    h, w, c = layer.in_shape
    oh, ow, oc = layer.out_shape
    dw = layer.depthwise
    kh, s, pad = dw.kernel[0], dw.stride[0], dw.pad[0]
    in_row, out_row = w * c, ow * oc
    events = []  # ('r', row) / ('w', row) in program order
    slot_row = [-1] * kh
    for oy in range(oh):
        for ky in range(kh):
            iy = oy * s - pad + ky
            if iy < 0 or iy >= h:
                continue
            if layer.expand is None:
                events.append(('r', iy))
            elif slot_row[iy % kh] != iy:
                events.append(('r', iy))
                slot_row[iy % kh] = iy
        if layer.residual is not None:
            events.append(('r', oy))
        events.append(('w', oy))
    for t, (kind, oy) in enumerate(events):
        if kind != 'w':
            continue
        lo, hi = oy * out_row, (oy + 1) * out_row
        for kind2, iy in events[t + 1:]:
            if kind2 == 'r' and iy * in_row < hi and lo < (iy + 1) * in_row:
                return False
    return True


def test_in_place_rule_matches_replay():
    rng = np.random.default_rng(11)
    verdicts = set()
    for i in range(60):
        c = int(rng.choice([4, 8, 16]))
        shape = (int(rng.integers(3, 10)), int(rng.integers(2, 8)), c)
        stride = int(rng.integers(1, 3))
        out_c = c if (stride == 1 and rng.random() < 0.4) else int(rng.choice([4, 8, 16, 32]))
        layer = random_mbconv(rng, f'mb{i}', shape, out_c, expand=int(rng.integers(1, 4)),
                              stride=stride)
        ok = mbconv_in_place_ok(layer)
        assert ok == _replay_is_safe(layer), (layer.in_shape, layer.out_shape, stride,
                                              layer.expand is not None, layer.residual)
        verdicts.add(ok)
    assert verdicts == {True, False}  # both outcomes occur, or the test would mean little


def test_in_place_plan_invariants():
    for seed in range(5):
        program = random_program(np.random.default_rng(seed))
        plain, plan = plan_arena(program), plan_arena(program, in_place=True)
        aliases = {(b.name, b.alias_of) for b in plan.buffers.values() if b.alias_of}
        assert aliases and all(plan.buffers[n].offset == plan.buffers[a].offset
                               for n, a in aliases)
        assert plan.arena_bytes < plain.arena_bytes
        assert not any(b.alias_of for b in plain.buffers.values())

        def group(name):
            while plan.buffers[name].alias_of:
                name = plan.buffers[name].alias_of
            return name

        bufs = list(plan.buffers.values())
        for i, a in enumerate(bufs):
            assert a.offset + a.size <= plan.arena_bytes
            for b in bufs[i + 1:]:
                if group(a.name) == group(b.name):
                    continue
                if a.size and b.size and a.start <= b.end and b.start <= a.end:
                    assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset


@pytest.mark.skipif(shutil.which('make') is None or shutil.which('gcc') is None,
                    reason='make / host gcc not found')
def test_in_place_project_matches_reference(tmp_path):
    program = random_program(np.random.default_rng(0), image_shape=(32, 40, 3))
    program.detect.max_candidates, program.detect.max_dets = 600, 200
    plan = plan_arena(program, in_place=True)
    assert any(b.alias_of for b in plan.buffers.values())
    proj = tmp_path / 'proj'
    write_project(program, proj, ram_budget=64 * 1024, stack_bytes=4096, plan=plan)
    image = np.random.default_rng(100).integers(0, 256, (32, 40, 3)).astype(np.uint8)
    (proj / 'img.ppm').write_bytes(b'P6\n40 32\n255\n' + image.tobytes())
    subprocess.run(['make', '-s', '-C', str(proj), 'run-host', 'IMAGE=img.ppm', 'DUMP=dump.bin'],
                   capture_output=True, text=True, check=True, timeout=300)
    tensors, dets = run_program(program, image)
    raw = (proj / 'dump.bin').read_bytes()
    off = 0
    # every tensor is dumped right after its step, before an in-place successor overwrites it
    for name in tensor_order(program):
        t = tensors[name]
        got = np.frombuffer(raw[off:off + t.size], np.int8).reshape(t.shape)
        assert np.array_equal(got, t), f'tensor {name}: {int((got != t).sum())} values differ'
        off += t.size
    n = int(np.frombuffer(raw[off:off + 4], np.int32)[0])
    assert np.array_equal(np.frombuffer(raw[off + 4:], np.int32).reshape(n, 7), dets)


def mbconv_min_scratch_program(rng):
    """C source running blocks with exactly their minimum scratch (heap, so ASan sees overruns),
    out of place and, where the planner allows it, in place (out == in); plus the expected
    bytes (scratch-size queries and outputs)."""
    from mcu_export.cemit import c_array, emit_layer
    from mcu_export.ctest import PROLOGUE
    decls, body, expected = [], [], []
    for k, (shape, out_c, t, s) in enumerate([((6, 20, 8), 8, 2, 1), ((7, 19, 8), 12, 3, 2),
                                              ((5, 11, 6), 6, 1, 1), ((4, 9, 16), 16, 2, 1),
                                              ((6, 12, 8), 4, 4, 1)]):
        layer = random_mbconv(rng, f'mbs{k}', shape, out_c, expand=t, stride=s)
        x = rng.integers(-128, 128, shape).astype(np.int8)
        y = ref.mbconv(layer, x)
        lines, ident = emit_layer(layer, f'm{k}')
        n_in, n_out = x.size, y.size
        decls += lines + c_array(f'm{k}_in', x, np.int8)
        decls += [f'static int8_t m{k}_out[{max(n_in, n_out)}];']
        in_place = mbconv_in_place_ok(layer)
        body += ['{', f'    const size_t need = rp_mbconv_get_min_buffer_size(&{ident});',
                 '    emit_u32((uint32_t)need);', '    void *buf = malloc(need);',
                 '    if (buf == NULL) { return 3; }',
                 f'    check(rp_mbconv_s8(&{ident}, buf, need - 1, m{k}_in, m{k}_out) == '
                 'RP_ARG_ERROR ? RP_OK : RP_NO_IMPL, "short scratch rejected");',
                 f'    check(rp_mbconv_s8(&{ident}, buf, need, m{k}_in, m{k}_out), "min");',
                 f'    emit(m{k}_out, {n_out});']
        expected += [np.array([mbconv_min_scratch_bytes(layer)], np.uint32).tobytes(),
                     y.tobytes()]
        if in_place:
            body += [f'    memcpy(m{k}_out, m{k}_in, {n_in});',
                     f'    check(rp_mbconv_s8(&{ident}, buf, need, m{k}_out, m{k}_out), '
                     '"in place");',
                     f'    emit(m{k}_out, {n_out});']
            expected.append(y.tobytes())
        body += ['    free(buf);', '}']
    source = (PROLOGUE + '\n'.join(decls) + '\n\nint main(void)\n{\n' +
              '\n'.join('    ' + line for line in body) + '\n    return 0;\n}\n')
    return source, b''.join(expected)


@pytest.mark.parametrize('sanitize', [False, pytest.param(True, marks=pytest.mark.slow)])
def test_mbconv_min_scratch_and_in_place_bit_exact(tmp_path, sanitize):
    from mcu_export.ctest import build_program, run_program as run_exe
    source, expected = mbconv_min_scratch_program(np.random.default_rng(21))
    assert source.count('"in place"') >= 2  # some blocks really run with out == in
    got = run_exe(build_program(source, tmp_path, sanitize=sanitize))
    assert got == expected


def test_lean_plan_widens_block_scratch_only_where_free():
    """plan_arena(in_place=True) gives a block whole-row passes (its full scratch) wherever the
    arena does not grow, and keeps the lean scratch where widening it would grow the arena."""
    from mcu_export.planner import _place
    widened = 0
    for seed in range(6):
        program = random_program(np.random.default_rng(seed))
        lean, plan = _place(program, True, {}), plan_arena(program, in_place=True)
        assert plan.arena_bytes <= lean.arena_bytes
        sizes = {}
        for i, step in enumerate(program.steps, start=1):
            buf = plan.buffers.get(f'scratch:{step.layer.name}')
            if buf is not None:
                sizes[i] = buf.size
        for i, step in enumerate(program.steps, start=1):
            full, small = step.layer.scratch_bytes(), step.layer.scratch_bytes(lean=True)
            if i not in sizes or full == small:
                continue
            assert sizes[i] in (full, small)
            widened += sizes[i] == full
            if sizes[i] == small:
                assert _place(program, True, {**sizes, i: full}).arena_bytes > plan.arena_bytes
    assert widened
