"""The classifier ops as registered ops: registry, shapes / stream sizes, validation, C strings,
and their quantisation from float (``mcu_export.quantize_cls``) against float maths."""
import numpy as np
import pytest

from mcu_export.ops.base import OPS, Op, OutputOp, get_op, register_op
from mcu_export.ops.classify import ClassifyOp, exp_table_q15
from mcu_export.ops.gap import GapOp
from mcu_export.ops.linear import LinearOp
from mcu_export.quantize import ActQuant, act_quant_from_range
from mcu_export.quantize_cls import quantize_classify, quantize_gap, quantize_linear


def test_registered_by_kind():
    assert get_op('gap') is GapOp and get_op('linear') is LinearOp
    assert get_op('classify') is ClassifyOp and issubclass(ClassifyOp, OutputOp)
    assert GapOp.kind == 'gap' and GapOp.streamable and not LinearOp.streamable
    assert all(issubclass(OPS[k], Op) for k in ('gap', 'linear', 'classify'))
    with pytest.raises(ValueError, match='gap'):
        register_op('gap')(type('Again', (Op, ), {}))


def test_gap_streamed_sums_equal_whole_map_and_sizes():
    rng = np.random.default_rng(3)
    op = quantize_gap('pool', (7, 5, 13), ActQuant(0.05, 11), ActQuant(0.03, -4))
    x = rng.integers(-128, 128, op.in_shape).astype(np.int8)
    sums = sum(op.sums(x[y:y + 1]) for y in range(7))  # row by row, as the stage adds them
    assert np.array_equal(op.finish(sums), op.reference([x]))
    assert op.out_shape == (1, 1, 13) and op.madds == 7 * 5 * 13
    assert op.row_window() == (1, 1) and op.ring_rows() == 1
    assert op.sums_bytes() == 52 and op.ring_bytes() == 68 + 52  # 65 -> 68, then the sums
    assert op.own_ring_bytes() == 52
    assert op.stream_scratch() == {} and op.scratch_bytes() == 0
    assert op.c_stage('m_pool', 3) == '{.kind = RP_STAGE_GAP, .src = 3, .gap = &m_pool}'
    assert op.c_call('m_pool', ['a'], 'b', None) == 'rp_gap_s8(&m_pool, a, b)'


@pytest.mark.parametrize('shape,zp_in,out_q', [((7, 7, 24), 5, None), ((3, 11, 9), -128, None),
                                               ((6, 6, 5), 40, ActQuant(0.011, -30))])
def test_quantize_gap_within_one_step_of_float_mean(shape, zp_in, out_q):
    rng = np.random.default_rng(sum(shape))
    in_q = ActQuant(0.02, zp_in)
    op = quantize_gap('gap', shape, in_q, out_q)
    out_q = in_q if out_q is None else out_q
    x = rng.integers(-128, 128, shape).astype(np.int8)
    mean = in_q.dequantize(x).mean(axis=(0, 1))
    got = out_q.dequantize(op.reference([x]).reshape(-1))
    inside = (mean >= out_q.dequantize(np.int8(-128))) & (mean <= out_q.dequantize(np.int8(127)))
    assert inside.any()
    err = np.abs(got - mean)[inside] / out_q.scale
    assert err.max() <= 0.5 + 1e-6  # the rounding of the mean, nothing else


@pytest.mark.parametrize('n_in,n_out,act', [(64, 10, None), (1280, 2, None), (7, 5, 'relu'),
                                            (33, 1, 'relu6')])
def test_quantize_linear_against_float(n_in, n_out, act):
    rng = np.random.default_rng(n_in * 31 + n_out)
    w = rng.normal(0, 1 / np.sqrt(n_in), (n_out, n_in))
    b = rng.normal(0, 0.3, n_out)
    in_q = act_quant_from_range(-1.0, 3.0)
    xq = in_q.quantize(rng.uniform(-1, 3, n_in)).reshape(1, 1, n_in)
    xd = in_q.dequantize(xq).reshape(-1)
    y = w @ xd + b
    out_q = act_quant_from_range(min(y.min(), -0.5) * 1.1, max(y.max(), 0.5) * 1.1)
    op = quantize_linear('fc', w, b, in_q, out_q, act=act)
    got = out_q.dequantize(op.reference([xq]).reshape(-1))
    y_act = np.maximum(y, 0) if act == 'relu' else np.clip(y, 0, 6) if act == 'relu6' else y
    # with the op's own int8 weights / int32 bias the float result is reproduced within one step
    w_scale = np.abs(w).max(axis=1) / 127
    yq = (op.weights * w_scale[:, None]) @ xd + op.bias * in_q.scale * w_scale
    yq = np.maximum(yq, 0) if act == 'relu' else np.clip(yq, 0, 6) if act == 'relu6' else yq
    assert np.abs(got - yq).max() <= out_q.scale
    # against the float weights: one step plus the weights' rounding bound sum |x| s_w / 2
    bound = out_q.scale + np.abs(xd).sum() * w_scale / 2 + in_q.scale * w_scale / 2
    assert np.all(np.abs(got - y_act) <= bound)
    assert np.isfinite(got).all()


@pytest.mark.parametrize('scale', [1e-4, 0.05, 0.1, 0.3, 2.0])
def test_classify_scores_match_float_softmax(scale):
    rng = np.random.default_rng(int(scale * 1e4))
    for n in (1, 2, 5, 37):
        op = quantize_classify('cls', 'logits', n, ActQuant(scale, 3))
        q = rng.integers(-128, 128, (1, 1, n)).astype(np.int8)
        label, scores = op.classify(q)
        r = {'label': label, 'scores': scores}
        z = scale * (q.reshape(-1).astype(np.float64) - 3)
        p = np.exp(z - z.max())
        p /= p.sum()
        assert np.abs(r['scores'] / 32768.0 - p).max() <= 4 / 32768
        assert r['label'] == int(np.argmax(q.reshape(-1)))
        assert np.array_equal(op.reference([q]).reshape(-1), r['scores'])


def test_classify_ties_take_the_lowest_index():
    op = ClassifyOp('cls', 'logits', 6, exp_table_q15(0.1))
    x = np.array([1, 9, 3, 9, 9, -2], np.int8).reshape(1, 1, 6)
    label, scores = op.classify(x)
    assert label == 1 and scores[1] == scores[3] == scores[4]
    result = op.result(None, {'logits': x})
    assert result.dtype == np.int32 and list(result[:2]) == [1, scores[0]]
    assert op.result_bytes(result) == result.astype('<i4').tobytes()
    assert op.input_names() == ['logits']
    with pytest.raises(ValueError, match='cls: logits'):
        op.check_inputs({'logits': (1, 1, 5)})


def test_validation_names_the_layer():
    with pytest.raises(ValueError, match='pool.*runtime limit'):
        GapOp('pool', (4096, 4096, 1), 1 << 30, 40).validate()
    with pytest.raises(ValueError, match='head.*2\\^28'):
        LinearOp('head', np.zeros((2, 3), np.int8), np.array([1 << 29, 0], np.int32),
                 np.full(2, 1 << 30, np.int32), np.full(2, 40, np.int8)).validate()
    with pytest.raises(ValueError, match='head.*shape \\(2,\\)'):
        LinearOp('head', np.zeros((2, 3), np.int8), None, np.full(3, 1 << 30, np.int32),
                 np.full(2, 40, np.int8)).validate()
    with pytest.raises(ValueError, match='cls.*positive first entry'):
        ClassifyOp('cls', 'x', 2, np.zeros(256, np.int32)).validate()
    with pytest.raises(ValueError, match='scale must be finite'):
        exp_table_q15(float('nan'))
    with pytest.raises(ValueError, match='fc.*2-D'):
        quantize_linear('fc', np.zeros(3), None, ActQuant(0.1, 0), ActQuant(0.1, 0))
