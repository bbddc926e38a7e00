"""Install with ``pip install -v -e .`` into an environment that already has torch and mmcv 2.1
(with its compiled ops); ``tools/setup_env.sh`` builds such an environment from scratch."""
import os.path as osp

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_requirements(name):
    with open(osp.join(HERE, 'requirements', name)) as f:
        return [line.split('#')[0].strip() for line in f if line.split('#')[0].strip()]


def read_version():
    namespace = {}
    with open(osp.join(HERE, 'mmdet_rnnpool', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


setup(
    name='mmdet-rnnpool',
    version=read_version(),
    description='RNNPool layers, RNNPool-S3FD face detectors and a Cortex-M4 exporter '
    'for MMDetection 3.x',
    long_description=open(osp.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    license='MIT',
    python_requires='>=3.9',
    packages=find_packages(include=['mmdet_rnnpool', 'mmdet_rnnpool.*', 'mcu_export',
                                    'mcu_export.*']),
    include_package_data=True,
    package_data={'mcu_export': ['runtime/*.c', 'runtime/*.h', 'runtime/**/*', 'templates/*',
                                 'templates/**/*'],
                  'mmdet_rnnpool': ['ops/csrc/*.cpp', 'ops/csrc/*.h']},
    # torch and mmcv are deliberately not resolved by pip: torch must be the build you chose
    # (pip would fetch a CUDA build) and mmcv 2.1.0 must be compiled against it.
    install_requires=['mmengine>=0.10.7,<1.0', 'mmdet>=3.3.0,<3.4', 'numpy<2', 'scipy',
                      'matplotlib', 'scikit-image'],
    extras_require={
        'onnx': ['onnx', 'onnxruntime', 'onnxscript'],
        'tests': read_requirements('tests.txt') + ['onnx', 'onnxruntime', 'onnxscript'],
    },
    zip_safe=False,
)
