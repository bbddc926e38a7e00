"""The op registry used the way a new op kind would use it.

A test-only op (``test_negate``: ``y = clamp(offset - x)``, its C written by its own ``emit``)
is registered from this file and flows through the planner (liveness, in-place, stream cuts),
the reference interpreter and the code generator into a host build that must equal the
reference byte for byte, without any change to the library. Also: the registry's refusals and
the reference interpreter's per-layer callback.
"""
import shutil
import subprocess
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
import pytest

from mcu_export.codegen import expected_dump, write_project
from mcu_export.ir import LayerProgram, ProgramStep, StreamSpec
from mcu_export.ops import OPS, Op, OutputOp, get_op, register_op
from mcu_export.ops.base import c_ident
from mcu_export.planner import plan_arena, plan_schedule
from mcu_export.random_model import random_conv, random_program
from mcu_export.reference import run_program

pytestmark = [
    pytest.mark.mcu,
    pytest.mark.skipif(shutil.which('make') is None or shutil.which('gcc') is None,
                       reason='make / host gcc not found')
]


@dataclass
class NegateLayer(Op):
    """Test-only element-wise op: ``y = clamp(offset - x, -128, 127)`` (in place allowed)."""

    shape: Tuple[int, int, int]
    offset: int = -1

    @property
    def in_shape(self):
        return tuple(self.shape)

    @property
    def out_shape(self):
        return tuple(self.shape)

    @property
    def madds(self) -> int:
        return 0

    def validate(self) -> None:
        if not -255 <= self.offset <= 255:
            raise ValueError(f'layer {self.name}: offset {self.offset} out of range')

    def in_place_ok(self) -> bool:
        return True  # element i is read before element i is written

    def reference(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        return np.clip(self.offset - inputs[0].astype(np.int32), -128, 127).astype(np.int8)

    def emit(self, prefix: str) -> Tuple[List[str], str]:
        p = c_ident(prefix)
        h, w, c = self.shape
        return [f'static rp_status {p}_run(const int8_t *in, int8_t *out)', '{',
                f'    for (int32_t i = 0; i < {h * w * c}; i++) {{',
                f'        const int32_t v = {int(self.offset)} - (int32_t)in[i];',
                '        out[i] = (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);', '    }',
                '    return RP_OK;', '}'], p

    def c_call(self, ident: str, inputs: Sequence[str], output: str,
               scratch: Optional[Tuple[str, int]]) -> str:
        return f'{ident}_run({inputs[0]}, {output})'


@dataclass
class ArgmaxOutput(OutputOp):
    """Test-only output op (a classifier's shape): the first index of the largest value of one
    tensor, and that value."""

    tensor: str = 'logits'

    def input_names(self) -> List[str]:
        return [self.tensor]

    def result(self, program, tensors) -> np.ndarray:
        flat = tensors[self.tensor].reshape(-1).astype(np.int32)
        return np.array([int(np.argmax(flat)), int(flat.max())], np.int32)

    def result_bytes(self, result) -> bytes:
        return np.asarray(result, '<i4').tobytes()

    def emit(self, prefix: str) -> Tuple[List[str], str]:
        return [], ''

    def c_header(self, P: str, PU: str) -> List[str]:
        return ['typedef struct {', '    int32_t best[2]; /* index, value */', f'}} {P}_result;']

    def c_finish(self, program, PU: str, tensor) -> List[str]:
        h, w, c = program.tensor_shapes[self.tensor]
        return [f'const int8_t *x = {tensor(self.tensor)};',
                'result->best[0] = 0;', 'result->best[1] = x[0];',
                f'for (int32_t i = 1; i < {h * w * c}; i++) {{',
                '    if (x[i] > result->best[1]) {',
                '        result->best[0] = i;', '        result->best[1] = x[i];', '    }', '}',
                'return RP_OK;']

    def c_report(self, P: str) -> List[str]:
        return ['sink(user, "argmax", r->best, 2);']


@pytest.fixture
def negate_kind():
    cls = register_op('test_negate')(NegateLayer)
    yield cls
    OPS.pop('test_negate')


def _with_negate(seed: int) -> LayerProgram:
    """A random program with a ``test_negate`` between the first L2Norm and its heads (the
    L2Norm's only reader, so the planner may put it in place)."""
    program = random_program(np.random.default_rng(seed))
    program.detect.max_candidates, program.detect.max_dets = 600, 200
    steps = []
    for step in program.steps:
        steps.append(step)
        if step.output == 'n1':
            steps.append(ProgramStep(NegateLayer('neg', program.tensor_shapes['n1'], -1),
                                     ['n1'], 'neg1'))
    for step in steps:
        if step.output in ('head0_loc', 'head0_conf'):
            step.inputs = ['neg1']
    program = LayerProgram(program.name, program.stream, steps, program.output)
    program.infer_shapes()
    return program


def test_registry_refuses_duplicates_and_unknown_kinds(negate_kind):
    assert get_op('test_negate') is NegateLayer and NegateLayer.kind == 'test_negate'
    assert get_op('conv').__name__ == 'ConvLayer'
    with pytest.raises(ValueError, match="'test_negate' is already registered"):
        register_op('test_negate')(type('Other', (NegateLayer, ), {}))
    with pytest.raises(ValueError, match="unknown op kind 'no_such_op'"):
        get_op('no_such_op')


def test_a_test_only_op_flows_through_planner_reference_and_codegen(negate_kind, tmp_path):
    program = _with_negate(3)
    plan = plan_arena(program, in_place=True)
    # the planner asked the op: it writes over its input (the L2Norm map, read by it alone)
    assert plan.buffers['neg1'].alias_of == 'n1'
    assert plan.buffers['neg1'].offset == plan.buffers['n1'].offset
    # it is not streamable: the stream cut stops before it
    schedule = plan_schedule(program)
    names = [step.layer.name for step in schedule.program.steps]
    assert 'neg' in names
    assert all(stage.kind != 'test_negate' for stage in schedule.program.stream.stages)
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, program.stream.image_shape).astype(np.uint8)
    for prog, pl in ((program, plan), (schedule.program, schedule.plan)):
        tensors, dets = run_program(prog, image)
        assert np.array_equal(tensors['neg1'], np.clip(-1 - tensors['n1'].astype(np.int32),
                                                       -128, 127))
        proj = tmp_path / f'cut{len(prog.stream.stages)}'
        write_project(prog, proj, plan=pl)
        assert '_neg_run(a + ' in (proj / 'model.c').read_text()
        h, w, c = prog.stream.image_shape
        (proj / 'img.ppm').write_bytes(b'P6\n' + f'{w} {h}\n255\n'.encode() + image.tobytes())
        subprocess.run(['make', '-s', '-C', str(proj), 'run-host', 'IMAGE=img.ppm',
                        'DUMP=dump.bin'], check=True, capture_output=True, timeout=300)
        assert (proj / 'dump.bin').read_bytes() == expected_dump(prog, tensors, dets)
        assert len(dets) > 0


def test_on_layer_sees_every_op_and_can_replace_its_output():
    program = random_program(np.random.default_rng(1))
    image = np.random.default_rng(2).integers(0, 256, program.stream.image_shape, np.uint8)
    base, base_dets = run_program(program, image)
    seen = []

    def record(op, inputs, output):
        seen.append((op.name, [x.shape for x in inputs], output.shape))
        return None

    tensors, dets = run_program(program, image, on_layer=record)
    assert [s[0] for s in seen] == ([s.name for s in program.stream.stages] +
                                    [step.layer.name for step in program.steps])
    assert np.array_equal(dets, base_dets)
    # the first whole-map op's output replaced by zeros: later ops see the zeros
    first = program.steps[0]

    def zero_first(op, inputs, output):
        return np.zeros_like(output) if op is first.layer else None

    tensors, _ = run_program(program, image, on_layer=zero_first)
    assert not tensors[first.output].any()
    reader = next(step for step in program.steps[1:] if step.inputs == [first.output])
    assert np.array_equal(tensors[reader.output],
                          reader.layer.reference([np.zeros_like(base[first.output])]))
    assert not np.array_equal(tensors[reader.output], base[reader.output])


@pytest.fixture
def argmax_kind():
    cls = register_op('test_argmax')(ArgmaxOutput)
    yield cls
    OPS.pop('test_argmax')


def test_a_test_only_output_op_replaces_the_detector_output(argmax_kind, tmp_path):
    """A program whose output op is no detector: model.h's result type, ``*_run`` and the
    harness's records all come from the op."""
    rng = np.random.default_rng(11)
    stem = random_conv(rng, 'stem', (16, 20, 3), 4, (3, 3), (2, 2), (1, 1), act='relu',
                       pad_values=True)
    stem.input_offset = 128
    head = random_conv(rng, 'head', stem.out_shape, 6, (3, 3), (1, 1), (1, 1))
    head.input_offset = -stem.output_offset
    program = LayerProgram('cls', StreamSpec((16, 20, 3), [stem], 'stem'),
                           [ProgramStep(head, ['stem'], 'logits')], ArgmaxOutput('argmax'))
    program.infer_shapes()
    image = rng.integers(0, 256, (16, 20, 3)).astype(np.uint8)
    tensors, result = run_program(program, image)
    assert result[1] == tensors['logits'].max()
    proj = tmp_path / 'cls'
    write_project(program, proj, prefix='cls')
    header = (proj / 'model.h').read_text()
    assert 'int32_t best[2]' in header and 'rp_detection' not in header
    (proj / 'img.ppm').write_bytes(b'P6\n20 16\n255\n' + image.tobytes())
    proc = subprocess.run(['make', '-s', '-C', str(proj), 'run-host', 'IMAGE=img.ppm',
                           'DUMP=dump.bin'], check=True, capture_output=True, text=True,
                          timeout=300)
    assert f'argmax {result[0]} {result[1]}' in proc.stdout
    assert (proj / 'dump.bin').read_bytes() == expected_dump(program, tensors, result)
