"""One source of truth for sizes and limits: the Python planner against the C runtime.

A host program built from the runtime prints ``RP_MAX_HIDDEN``, ``RP_MAX_KERNEL``,
``RP_MAX_STAGES``, ``RP_MBCONV_CHUNK`` and, for every stream of random programs at every feasible
stream cut (convolutions, depthwise convolutions, RNNPool with and without its row cache,
L2Norm, inverted residual blocks with and without expansion / residual, head sinks),
``rp_stream_get_buffer_size`` (rings + shared pools), and for every op with a scratch query
(``Op.c_scratch_query``: ``rp_mbconv_get_(min_)buffer_size``, ``rp_rnnpool_get_(min_)buffer_size``)
both sizes. Each must equal what the planner uses (``StreamSpec.scratch_bytes``,
``Op.scratch_bytes(lean)``); ops without a query must need no scratch.
"""
import shutil

import numpy as np
import pytest

from mcu_export.ctest import PROLOGUE, build_program, run_program
from mcu_export.ir import RP_MAX_HIDDEN, RP_MAX_KERNEL, RP_MAX_STAGES, RP_MBCONV_CHUNK
from mcu_export.cemit import emit_stream
from mcu_export.ops.stream_head import DETECT_LEVELS
from mcu_export.planner import stream_steps
from mcu_export.random_model import random_add, random_mbconv, random_program

pytestmark = [
    pytest.mark.mcu,
    pytest.mark.skipif(shutil.which('gcc') is None, reason='host gcc not found')
]


def _programs():
    """Every feasible stream cut of a few random programs."""
    for seed, (h1, h2), head, cache in ((0, (4, 4), True, True), (1, (8, 16), False, True),
                                         (2, (16, 8), True, False)):
        program = random_program(np.random.default_rng(seed), h1=h1, h2=h2, stream_head=head)
        for stage in program.stream.stages:
            if hasattr(stage, 'row_cache'):
                stage.row_cache = cache
        for n in range(len(program.steps) + 1):
            try:
                yield f'p{seed}_{n}', stream_steps(program, n)
            except ValueError:
                continue


def test_python_sizes_and_limits_equal_the_c_runtime(tmp_path):
    decls, body, expected, what = [], ['check(RP_OK, "start");'], [], []

    def check(c_expr: str, value: int, label: str) -> None:
        body.append(f'emit_u32((uint32_t)({c_expr}));')
        expected.append(int(value))
        what.append(label)

    for name, value in (('RP_MAX_HIDDEN', RP_MAX_HIDDEN), ('RP_MAX_KERNEL', RP_MAX_KERNEL),
                        ('RP_MAX_STAGES', RP_MAX_STAGES), ('RP_MBCONV_CHUNK', RP_MBCONV_CHUNK)):
        check(name, value, name)
    ops, kinds = [], set()
    for tag, program in _programs():
        lines, ident = emit_stream(program.stream, f'{tag}_stream')
        # each program's decoding tables (the head sinks point at them) under its own name
        decls += [f'#define {DETECT_LEVELS} {tag}_levels']
        if program.stream.heads:
            decls += program.output.emit_tables(program, f'{tag}_out')
        decls += lines
        decls += [f'#undef {DETECT_LEVELS}']
        check(f'rp_stream_get_buffer_size(&{ident})', program.stream.scratch_bytes,
              f'{tag}: stream of {[s.name for s in program.stream.stages]}')
        ops += [(f'{tag}_s', s) for s in program.stream.stages]
        ops += [(f'{tag}_l', step.layer) for step in program.steps]
        kinds |= {s.kind for s in program.stream.stages}
    rng = np.random.default_rng(5)
    for expand, stride in ((1, 1), (2, 1), (3, 2)):  # blocks with wide rows (> the chunk)
        ops.append(('wide', random_mbconv(rng, f'wide{expand}_{stride}', (6, 21, 8), 8,
                                          expand=expand, stride=stride)))
    ops.append(('add', random_add(rng, 'add0', (3, 5, 8))))
    for i, (tag, op) in enumerate(ops):
        kinds.add(op.kind)
        lines, ident = op.emit(f'{tag}_{i}_{op.name}')
        for lean in (False, True):
            query = op.c_scratch_query(ident, lean)
            if query is None:
                assert op.scratch_bytes(lean) == 0, f'{op.name}: scratch without a C query'
                continue
            if lean is False:
                decls += lines
            check(query, op.scratch_bytes(lean), f'{op.name} ({op.kind}) lean={lean}')
    assert {'conv', 'rnnpool', 'l2norm', 'mbconv', 'stream_head', 'add'} <= kinds
    source = (PROLOGUE + '\n'.join(decls) + '\n\nint main(void)\n{\n' +
              '\n'.join('    ' + line for line in body) + '\n    return 0;\n}\n')
    got = np.frombuffer(run_program(build_program(source, tmp_path)), np.uint32)
    assert len(got) == len(expected)
    wrong = [f'{w}: C {int(g)}, Python {e}' for g, e, w in zip(got, expected, what) if g != e]
    assert not wrong, '\n'.join(wrong)
