"""Inverted residual blocks, L2Norms and heads run inside the row stream (issue 7).

``planner.stream_steps`` moves the first whole-map layers of a program into the streamed
front-end; the streamed program must compute exactly what the unstreamed one computes (every
remaining tensor and every detection, in the integer reference and in C), the stream's scratch
query must equal the Python size, and ``planner.plan_schedule`` must pick the cut with the
smallest arena.
"""
import shutil
import subprocess

import numpy as np
import pytest

from mcu_export import reference as ref
from mcu_export.codegen import tensor_order, write_project
from mcu_export.ctest import ProgramBuilder, build_program, run_program as run_exe, split_outputs
from mcu_export.detect_tables import build_detect_level, score_to_q15
from mcu_export.ir import (DetectSpec, LayerProgram, MBConvLayer, ProgramStep, StreamHead,
                           StreamSpec)
from mcu_export.planner import describe_schedule, plan_arena, plan_schedule, stream_steps
from mcu_export.quantize import ActQuant
from mcu_export.random_model import (random_conv, random_l2norm, random_mbconv, random_program,
                                     random_rnnpool)
from mcu_export.reference import run_program

pytestmark = pytest.mark.mcu
needs_gcc = pytest.mark.skipif(shutil.which('make') is None or shutil.which('gcc') is None,
                               reason='make / host gcc not found')


def _level(name: str, image_h: int, map_h: int, size: float):
    stride = image_h // map_h
    return build_detect_level(f'{name}_loc', f'{name}_conf', ActQuant(0.05, 0),
                              ActQuant(0.06, 0), size * stride, size * stride, stride, stride)


def _heads(rng, name: str, shape, in_offset: int):
    loc = random_conv(rng, f'{name}_loc', shape, 4, (3, 3), (1, 1), (1, 1))
    conf = random_conv(rng, f'{name}_conf', shape, 2, (3, 3), (1, 1), (1, 1))
    loc.input_offset = conf.input_offset = in_offset
    return [ProgramStep(loc, [name + '_in'], f'{name}_loc'),
            ProgramStep(conf, [name + '_in'], f'{name}_conf')]


def blocky_program(rng, image_shape=(48, 40, 3), name: str = 'blocky') -> LayerProgram:
    """A random detector whose whole-map part starts with blocks a stream can take over.

    Stream: conv s2 -> RNNPool (replicate-padded) plus a stem branch head (level 0). Whole-map
    steps: b0 (expansion, channels change), b1 (expansion + residual), L2Norm + head (level 1),
    b2 (stride 2), b3 (no expansion, residual), head (level 2).
    """
    h = image_shape[0]
    stem = random_conv(rng, 'stem', image_shape, 4, (3, 3), (2, 2), (1, 1), act='relu',
                       pad_values=True)
    stem.input_offset = 128
    pool = random_rnnpool(rng, 'rnnpool', stem.out_shape, 4, 4, (4, 4), (2, 2))
    pool.input_offset = -stem.output_offset
    branch = random_conv(rng, 'branch', stem.out_shape, 4, (3, 3), (2, 2), (1, 1), act='relu')
    branch.input_offset = -stem.output_offset
    loc = random_conv(rng, 'head0_loc', branch.out_shape, 4, (3, 3), (1, 1), (1, 1))
    conf = random_conv(rng, 'head0_conf', branch.out_shape, 2, (3, 3), (1, 1), (1, 1))
    loc.input_offset = conf.input_offset = -branch.output_offset
    stream = StreamSpec(image_shape, [stem, pool, branch, StreamHead('head0', loc, conf, 0)],
                        'pool', pad_bottom=1, pad_right=1, sources=[-1, 0, 0, 2],
                        output_stage=1)
    s0 = stream.out_shape
    b0 = random_mbconv(rng, 'b0', s0, 8, expand=2, stride=1)
    b0.expand.input_offset = -pool.output_offset
    b1 = random_mbconv(rng, 'b1', b0.out_shape, 8, expand=2, stride=1)
    b1.expand.input_offset = b1.residual.input1_offset = -b0.project.output_offset
    norm = random_l2norm(rng, 'n1', b1.out_shape)
    norm.input_offset = -b1.residual.output_offset
    b2 = random_mbconv(rng, 'b2', b1.out_shape, 12, expand=3, stride=2)
    b2.expand.input_offset = -b1.residual.output_offset
    b3 = random_mbconv(rng, 'b3', b2.out_shape, 12, expand=1, stride=1)
    b3.depthwise.input_offset = b3.residual.input1_offset = -b2.project.output_offset
    head1 = _heads(rng, 'head1', norm.shape, -norm.output_offset)
    head2 = _heads(rng, 'head2', b3.out_shape, -b3.residual.output_offset)
    for step in head1:
        step.inputs = ['n1']
    for step in head2:
        step.inputs = ['b3']
    steps = [ProgramStep(b0, ['pool'], 'b0'), ProgramStep(b1, ['b0'], 'b1'),
             ProgramStep(norm, ['b1'], 'n1'), *head1, ProgramStep(b2, ['b1'], 'b2'),
             ProgramStep(b3, ['b2'], 'b3'), *head2]
    levels = [_level('head0', h, loc.out_shape[0], 4.0), _level('head1', h, norm.shape[0], 6.0),
              _level('head2', h, b3.out_shape[0], 6.0)]
    detect = DetectSpec(levels, score_thr=score_to_q15(0.3), iou_thr=score_to_q15(0.45),
                        max_candidates=600, max_dets=200)
    program = LayerProgram(name, stream, steps, detect)
    program.infer_shapes()
    return program


def _image(seed: int, shape):
    return np.random.default_rng(seed).integers(0, 256, shape).astype(np.uint8)


def _feasible_cuts(program):
    cuts = {}
    for n in range(len(program.steps) + 1):
        try:
            cuts[n] = stream_steps(program, n)
        except ValueError:
            pass
    return cuts


def test_cuts_are_what_the_stream_can_take():
    program = blocky_program(np.random.default_rng(0))
    cuts = _feasible_cuts(program)
    # 2: b0, b1 (b1 is read whole); 3 would leave b1 and n1 both read whole; 4 splits the
    # head1 pair; 5: + L2Norm and head1; 6: + b2 (stride 2); 7: + b3 (no expansion, residual)
    assert sorted(cuts) == [0, 1, 2, 5, 6, 7]
    deep = cuts[7]
    kinds = [type(s).__name__ for s in deep.stream.stages]
    assert kinds.count('MBConvLayer') == 4 and kinds.count('StreamHead') == 2
    assert deep.stream.output == 'b3' and [s.output for s in deep.steps] == ['head2_loc',
                                                                            'head2_conf']
    assert deep.stream.pad_index == 1 and deep.stream.out_index != 1  # padding stays on RNNPool
    with pytest.raises(ValueError, match=r'head pair must be streamed together'):
        stream_steps(program, 4)
    with pytest.raises(ValueError, match=r"2 streamed maps \['b1', 'n1'\]"):
        stream_steps(program, 3)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_every_cut_computes_the_same(seed):
    program = blocky_program(np.random.default_rng(seed), image_shape=(40, 48, 3))
    image = _image(100 + seed, (40, 48, 3))
    cuts = _feasible_cuts(program)
    for cap in (600, 12):  # 12: the bounded candidate list cuts through tied scores
        program.detect.max_candidates = cap  # shared by the cut programs
        base_tensors, base_dets = run_program(program, image)
        assert len(set(base_dets[:, 6].tolist())) >= (2 if cap > 100 else 1)
        for n, cut in cuts.items():
            tensors, dets = run_program(cut, image)
            assert np.array_equal(dets, base_dets), f'cut {n}: detections differ'
            for name in tensor_order(cut):
                assert np.array_equal(tensors[name], base_tensors[name]), f'cut {n}: {name}'


def test_candidate_ranking_does_not_depend_on_level_order():
    """Streamed heads decode their rows interleaved: ties rank by level, not arrival."""
    # seeds with a real cross-level tie (searched; boxes empty after clipping are no
    # candidates, which removed the tie of the earlier seeds)
    program = random_program(np.random.default_rng(2))
    tensors, _ = run_program(program, _image(10, program.stream.image_shape))
    spec = program.detect
    spec.max_candidates = 4  # tight: here a tie across levels decides the last place
    h, w, _ = program.stream.image_shape
    a = ref.detect(spec, tensors, w, h, [0, 1, 2])
    b = ref.detect(spec, tensors, w, h, [2, 1, 0])
    assert len(a) and np.array_equal(a, b)
    # the tie is real: ranked by score alone in arrival order, the two orders would differ
    firsts = []
    for order in ([0, 1, 2], [2, 1, 0]):
        cands = [c for i in order for c in ref.detect_decode(
            spec.levels[i], i, tensors[spec.levels[i].loc], tensors[spec.levels[i].conf],
            spec.score_thr, w, h)]
        firsts.append(sorted(cands, key=lambda c: -c[4])[:spec.max_candidates])
    assert sorted(firsts[0]) != sorted(firsts[1])


def _check_project(tmp_path, program, cut, image, base, sanitize=False):
    proj = tmp_path / f'cut{cut}'
    cut_program = stream_steps(program, cut)
    write_project(cut_program, proj, ram_budget=128 * 1024, stack_bytes=4096,
                  plan=plan_arena(cut_program, in_place=True))
    h, w, c = image.shape
    (proj / 'img.ppm').write_bytes(f'P6\n{w} {h}\n255\n'.encode() + image.tobytes())
    subprocess.run(['make', '-s', '-C', str(proj), 'sanitize' if sanitize else 'run-host',
                    'IMAGE=img.ppm', 'DUMP=dump.bin'], capture_output=True, text=True,
                   check=True, timeout=600)
    tensors, dets = base  # the unstreamed program's reference
    raw = (proj / 'dump.bin').read_bytes()
    off = 0
    for name in tensor_order(cut_program):
        t = tensors[name]
        got = np.frombuffer(raw[off:off + t.size], np.int8).reshape(t.shape)
        assert np.array_equal(got, t), f'cut {cut}, tensor {name}: {(got != t).sum()} differ'
        off += t.size
    n = int(np.frombuffer(raw[off:off + 4], np.int32)[0])
    assert np.array_equal(np.frombuffer(raw[off + 4:], np.int32).reshape(n, 7), dets)


@needs_gcc
@pytest.mark.parametrize('seed,cuts,cap', [(0, (2, 7), 600), (1, (5, 6), 12)])
def test_streamed_blocks_host_build_matches_reference(tmp_path, seed, cuts, cap):
    # cap 12: two heads decode interleaved rows into a list too short for all candidates
    program = blocky_program(np.random.default_rng(seed))
    program.detect.max_candidates = cap
    image = _image(200 + seed, program.stream.image_shape)
    base = run_program(program, image)
    for cut in cuts:
        _check_project(tmp_path, program, cut, image, base)


@needs_gcc
@pytest.mark.slow
def test_streamed_blocks_sanitizers_clean(tmp_path):
    program = blocky_program(np.random.default_rng(4))
    image = _image(204, program.stream.image_shape)
    _check_project(tmp_path, program, 7, image, run_program(program, image), sanitize=True)


@needs_gcc
@pytest.mark.parametrize('sanitize', [False, pytest.param(True, marks=pytest.mark.slow)])
def test_stream_with_blocks_buffer_query_and_map(tmp_path, sanitize):
    """Streams without heads: blocks of every kind, the padded stage inside, the size query."""
    rng = np.random.default_rng(31)
    builder = ProgramBuilder()
    expected, blocks = [], []
    for img_shape, kinds in [((18, 22, 3), [(2, 1, 4), (2, 1, 4), (3, 2, 8)]),
                             ((21, 17, 1), [(1, 1, 4), (4, 2, 6), (1, 1, 6)]),
                             ((16, 30, 3), [(2, 2, 8)])]:
        stem = random_conv(rng, 'stem', img_shape, 4, (3, 3), (1, 1), (1, 1), act='relu')
        stem.input_offset = 128
        pool = random_rnnpool(rng, 'pool', stem.out_shape, 4, 4, (4, 4), (2, 2))
        pool.input_offset = -stem.output_offset
        stages = [stem, pool]
        h, w, c = pool.out_shape
        shape = (h + 1, w + 1, c)  # the consumers see RNNPool's replicate-padded rows
        for k, (t, s, c) in enumerate(kinds):
            block = random_mbconv(rng, f'mb{k}', shape, c, expand=t, stride=s)
            stages.append(block)
            blocks.append(block)
            shape = block.out_shape
        spec = StreamSpec(img_shape, stages, 'x', pad_bottom=1, pad_right=1, pad_stage=1)
        image = rng.integers(0, 256, img_shape).astype(np.uint8)
        builder.add_stream_case(spec, image)
        expected.append((spec.scratch_bytes, ref.stream(spec, image)))
    # expansion + residual, residual without expansion, stride 2, channel change
    assert {(b.expand is not None, b.residual is not None, b.depthwise.stride[0])
            for b in blocks} >= {(True, True, 1), (False, True, 1), (True, False, 2),
                                 (False, False, 1)}
    exe = build_program(builder.source(), tmp_path, sanitize=sanitize)
    got = split_outputs(run_exe(exe), [4 + e.size for _, e in expected])
    for i, (g, (size, e)) in enumerate(zip(got, expected)):
        assert int(np.frombuffer(g[:4], np.uint32)[0]) == size, f'case {i}: buffer size query'
        g = np.frombuffer(g[4:], np.int8).reshape(e.shape)
        assert np.array_equal(g, e), f'case {i}: {int((g != e).sum())} of {e.size} differ'


def test_planner_picks_the_smallest_arena():
    # tall and narrow: whole maps are large next to row rings, so streaming pays
    tall = blocky_program(np.random.default_rng(5), image_shape=(160, 24, 3))
    schedule = plan_schedule(tall)
    arenas = dict(schedule.candidates)
    assert sorted(arenas) == sorted(_feasible_cuts(tall))
    assert schedule.cut > 0 and schedule.plan.arena_bytes == min(arenas.values())
    assert schedule.plan.arena_bytes < arenas[0]
    assert schedule.plan.arena_bytes == plan_arena(stream_steps(tall, schedule.cut),
                                                   in_place=True).arena_bytes
    info = describe_schedule(schedule)
    assert info['cut'] == schedule.cut
    assert [s['stage'] for s in info['stream_stages']] == [
        s.name for s in schedule.program.stream.stages]
    assert info['stream_output']['tensor'] == schedule.program.stream.output
    # wide and short: rings cost as much as maps, the stream stops at RNNPool
    wide = random_program(np.random.default_rng(0), image_shape=(32, 40, 3))
    assert plan_schedule(wide).cut == 0
    forced = plan_schedule(tall, cut=0)
    assert forced.cut == 0 and forced.plan.arena_bytes == arenas[0]
    with pytest.raises(ValueError, match='head pair'):
        plan_schedule(tall, cut=4)
