"""Arena planner: no two live buffers share bytes, the peak covers every step."""
import numpy as np

from mcu_export.planner import plan_arena
from mcu_export.random_model import random_program


def test_plan_is_valid_and_tight():
    for seed in range(5):
        program = random_program(np.random.default_rng(seed))
        plan = plan_arena(program)
        bufs = list(plan.buffers.values())
        for i, a in enumerate(bufs):
            assert a.offset % 4 == 0 and a.offset + a.size <= plan.arena_bytes
            for b in bufs[i + 1:]:
                if a.size and b.size and a.start <= b.end and b.start <= a.end:
                    assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset, \
                        f'{a.name} and {b.name} overlap while both live'
        assert plan.arena_bytes >= max(plan.live_bytes)
        # greedy placement stays within 1.5x of the lower bound on these programs
        assert plan.arena_bytes <= 1.5 * max(plan.live_bytes)
        assert plan.step_names[0] == 'stream' and len(plan.live_bytes) == len(program.steps) + 1


def test_heads_die_when_decoded():
    program = random_program(np.random.default_rng(0))
    plan = plan_arena(program)
    # the streamed level (0) is decoded inside the stream and never enters the arena
    assert plan.detect_steps[0] == (0, 0)
    assert 'head_s_loc' not in plan.buffers and 'head_s_conf' not in plan.buffers
    # level 1's heads are decoded right after head0_conf is written, not at the end
    assert plan.buffers['head0_loc'].end == plan.buffers['head0_conf'].start
    assert plan.detect_steps[1] == (plan.buffers['head0_conf'].start, 1)


def test_bad_program_is_refused_by_name():
    program = random_program(np.random.default_rng(0))
    program.steps[1].inputs = ['nope']
    try:
        plan_arena(program)
    except ValueError as err:
        assert "layer norm1: input tensor 'nope'" in str(err)
    else:
        raise AssertionError('a dangling input must be refused')
