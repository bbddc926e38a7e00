"""The detection half works without MMPretrain; the classification half registers on import."""
import subprocess
import sys


def test_detection_half_works_without_mmpretrain():
    # mmdet itself imports mmpretrain when it is installed (its ReID preprocessor tries to), so
    # the check is that our package never needs it: with mmpretrain unimportable, the detection
    # half still imports and registers, and only mmdet_rnnpool.cls refuses.
    code = '\n'.join([
        'import sys',
        "sys.modules['mmpretrain'] = None  # makes `import mmpretrain` raise ImportError",
        'import mmdet_rnnpool, mmdet_rnnpool.models, mmdet_rnnpool.ops',
        'from mmdet.registry import MODELS',
        "assert MODELS.get('RNNPoolS3FD') is not None",
        'try:',
        '    import mmdet_rnnpool.cls',
        'except ImportError:',
        "    print('cls refused')",
    ])
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == 'cls refused'


def test_cls_subpackage_registers_in_mmpretrain():
    import mmdet_rnnpool.cls  # noqa: F401
    from mmpretrain.registry import MODELS
    for name in ('MobileNetV2RNNPool', 'EfficientNetRNNPool', 'ResNetRNNPool', 'DenseNetRNNPool',
                 'GoogLeNet', 'GoogLeNetRNNPool', 'MobileNetV1', 'MobileNetV1RNNPool',
                 'RNNPoolNeck'):
        assert MODELS.get(name) is not None, name
    # RNNPool and ReNet live in MMEngine's root registry, reachable from MMPretrain's.
    assert MODELS.build(dict(type='ReNet', in_channels=2)).out_channels == 64
