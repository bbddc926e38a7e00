"""Parameters, MAdds and peak RAM of the RNNPool classifiers, by the paper's conventions.

The counting is the detectors' (:func:`mmdet_rnnpool.models.utils.analyze_complexity`: MAdds of
convs / linear layers / every RNN step, peak RAM layer by layer with the input of the patch-wise
layer computed on the fly and 1x1 convs fused into their producer), told about the
classifiers' blocks:

- the early down-sampling layer (:class:`EarlyDownsample`: RNNPool or a Table 2 comparator)
  reads its input patch by patch, so the image and the first conv are computed on the fly for
  each patch (the paper: rows 3-7 of Table 2 share one peak RAM);
- MBConv blocks (MobileNetV2, EfficientNet), ResNet blocks, inception modules, MobileNetV1's
  depthwise-separable blocks, DenseNet transitions, the intermediate RNNPools and the last-layer
  RNNPool cost input + output;
- a DenseNet dense block appends to its input's buffer: it costs its output;
- the first conv reads the image as it arrives (the paper's 3.06 MB for ResNet18, DenseNet121,
  GoogLeNet and MobileNetV1 is exactly their 112 x 112 x 64 first map, without the image).

Pools between blocks (the stems' max-pools) and global average pooling run as their producer
writes (like a 1x1 conv, the final 1x1 conv + average pool never holds its 7 x 7 map).
``single_map`` is also reported: the largest single map held (input or output of a
block), the figure some of the paper's rows agree with (see ``docs/benchmarks.md``).
"""
from typing import Dict, Optional, Sequence, Tuple

import torch.nn as nn
from mmpretrain.models.backbones.densenet import DenseBlock, DenseTransition
from mmpretrain.models.backbones.mobilenet_v2 import InvertedResidual as MobileNetV2Block
from mmpretrain.models.backbones.resnet import BasicBlock, Bottleneck
from mmpretrain.models.necks import GlobalAveragePooling
from mmpretrain.models.backbones.efficientnet import EdgeResidual
from mmpretrain.models.utils import InvertedResidual
from torch import Tensor

from mmdet_rnnpool.models.utils.complexity import ComplexityReport, analyze_complexity
from ..backbones.googlenet import InceptionBlock
from ..backbones.mobilenet_v1 import DepthwiseSeparableConv
from ..necks import RNNPoolNeck
from .early_downsample import EarlyDownsample, TransitionDownsample

#: Block types of the classifiers and their kinds (order matters: subclasses first).
CLS_BLOCK_KINDS: Tuple[Tuple[type, str], ...] = (
    (TransitionDownsample, 'block'),
    (EarlyDownsample, 'stream'),
    (RNNPoolNeck, 'block'),
    (DenseTransition, 'block'),
    (DenseBlock, 'dense'),
    (MobileNetV2Block, 'mbconv'),
    (InvertedResidual, 'mbconv'),
    (EdgeResidual, 'mbconv'),
    (BasicBlock, 'block'),
    (Bottleneck, 'block'),
    (InceptionBlock, 'block'),
    (DepthwiseSeparableConv, 'block'),
    (GlobalAveragePooling, 'reduce'),
)

KB, MB = 2**10, 2**20

#: The paper's figures per config (name before ``_8xb32``, plus its data set), at 224 x 224.
#: Float32 RAM in MiB except VWW (int8, KB); ``None`` where the paper gives no figure.
#: Sources: Table 1 (ImageNet-10 base vs RNNPool), Table 2 (operators; ImageNet-10, VWW),
#: Table 3 (ImageNet-1K), Table 16 (ablation), Figure 3 / Section 5.2 (VWW RAM, DenseNet).
PAPER_CLS_FIGURES: Dict[str, dict] = {
    # ImageNet-10, Table 1 (+ Table 2 MAdds where they are more precise)
    'mobilenet-v2_in10': dict(params=2.20e6, madds=0.300e9, ram=2.29 * MB),
    'mobilenet-v2-rnnpool_in10': dict(params=2.00e6, madds=0.226e9, ram=0.24 * MB),
    'efficientnet-b0_in10': dict(params=4.03e6, madds=0.39e9, ram=2.29 * MB),
    'efficientnet-b0-rnnpool_in10': dict(params=3.90e6, madds=0.33e9, ram=0.25 * MB),
    'resnet18_in10': dict(params=11.20e6, madds=1.80e9, ram=3.06 * MB),
    'resnet18-rnnpool_in10': dict(params=10.60e6, madds=0.95e9, ram=0.38 * MB),
    'densenet121_in10': dict(params=6.96e6, madds=2.83e9, ram=3.06 * MB),
    'densenet121-rnnpool_in10': dict(params=5.60e6, madds=1.04e9, ram=0.77 * MB),
    'googlenet_in10': dict(params=9.96e6, madds=1.57e9, ram=3.06 * MB),
    'googlenet-rnnpool_in10': dict(params=9.35e6, madds=0.81e9, ram=0.78 * MB),
    # Table 2, MobileNetV2 (rows 3-7 share the RNNPool model's peak RAM)
    'mobilenet-v2-lastrnnpool_in10': dict(params=2.9e6, madds=0.334e9, ram=2.29 * MB),
    'mobilenet-v2-avgpool_in10': dict(params=2.0e6, madds=0.200e9, ram=0.24 * MB),
    'mobilenet-v2-maxpool_in10': dict(params=2.0e6, madds=0.200e9, ram=0.24 * MB),
    'mobilenet-v2-stridedconv_in10': dict(params=2.1e6, madds=0.258e9, ram=0.24 * MB),
    'mobilenet-v2-renet_in10': dict(params=2.3e6, madds=0.296e9, ram=0.24 * MB),
    'mobilenet-v2-rnnpool-lastrnnpool_in10': dict(params=2.7e6, madds=0.260e9, ram=0.24 * MB),
    # Table 2, DenseNet121
    'densenet121-lastrnnpool_in10': dict(params=7.41e6, madds=3.05e9, ram=3.06 * MB),
    'densenet121-avgpool_in10': dict(params=5.59e6, madds=0.71e9, ram=0.77 * MB),
    'densenet121-maxpool_in10': dict(params=5.59e6, madds=0.71e9, ram=0.77 * MB),
    'densenet121-stridedconv_in10': dict(params=6.38e6, madds=1.33e9, ram=0.77 * MB),
    'densenet121-renet_in10': dict(params=6.41e6, madds=1.35e9, ram=0.77 * MB),
    'densenet121-rnnpool-lastrnnpool_in10': dict(params=6.06e6, madds=1.26e9, ram=0.77 * MB),
    # Section 5.2: all pools replaced "~2x lower compute, ~4x lower RAM" than the base (no
    # exact figures), and with 14 + 10 dense layers dropped.
    'densenet121-rnnpool-allpools_in10': dict(params=None, madds=None, ram=None),
    'densenet121-rnnpool-allpools-d10-6_in10': dict(params=None, madds=0.79e9, ram=0.43 * MB),
    # Table 16
    'mobilenet-v2-rnnpool-p4_in10': dict(params=None, madds=0.22e9, ram=0.24 * MB),
    'mobilenet-v2-rnnpool-p8_in10': dict(params=None, madds=0.24e9, ram=0.24 * MB),
    'mobilenet-v2-rnnpool-h8_in10': dict(params=None, madds=0.21e9, ram=0.14 * MB),
    'mobilenet-v2-rnnpool-h32_in10': dict(params=None, madds=0.29e9, ram=0.43 * MB),
    'mobilenet-v2-rnnpool-s8p12_in10': dict(params=None, madds=0.17e9, ram=0.14 * MB),
    'mobilenet-v2-rnnpool-2rnnpool_in10': dict(params=None, madds=0.17e9, ram=0.19 * MB),
    # Table 3, ImageNet-1K
    'mobilenet-v1_in1k': dict(params=4.2e6, madds=569e6, ram=3.06 * MB),
    'mobilenet-v1-renet_in1k': dict(params=4.2e6, madds=487e6, ram=0.77 * MB),
    'mobilenet-v1-rnnpool_in1k': dict(params=4.1e6, madds=417e6, ram=0.77 * MB),
    'mobilenet-v2_in1k': dict(params=3.4e6, madds=300e6, ram=2.29 * MB),
    'mobilenet-v2-renet_in1k': dict(params=3.6e6, madds=296e6, ram=0.24 * MB),
    'mobilenet-v2-rnnpool_in1k': dict(params=3.2e6, madds=226e6, ram=0.24 * MB),
    # Table 2, Visual Wake Words (int8 RAM: Figure 3's 250 KB -> 33.68 KB at 224 px)
    'mobilenet-v2-0.35x_vww': dict(params=296e3, madds=53.2e6, ram=250 * KB),
    'mobilenet-v2-0.35x-lastrnnpool_vww': dict(params=300e3, madds=53.4e6, ram=None),
    'mobilenet-v2-0.35x-avgpool_vww': dict(params=255e3, madds=31.9e6, ram=None),
    'mobilenet-v2-0.35x-maxpool_vww': dict(params=255e3, madds=31.9e6, ram=None),
    'mobilenet-v2-0.35x-stridedconv_vww': dict(params=264e3, madds=39.2e6, ram=None),
    'mobilenet-v2-0.35x-renet_vww': dict(params=277e3, madds=46.4e6, ram=None),
    'mobilenet-v2-0.35x-rnnpool_vww': dict(params=255e3, madds=37.7e6, ram=33.68 * KB),
    'mobilenet-v2-0.35x-rnnpool-lastrnnpool_vww': dict(params=259e3, madds=37.9e6, ram=None),
}


def paper_key(config_name: str) -> Optional[str]:
    """``'mobilenet-v2-rnnpool_8xb32-300e_in10.py'`` -> ``'mobilenet-v2-rnnpool_in10'`` (the
    key of :data:`PAPER_CLS_FIGURES`; VWW only at 224 px), or None."""
    name = config_name.rsplit('/', 1)[-1]
    if name.endswith('.py'):
        name = name[:-3]
    model, _, rest = name.partition('_8xb32-')
    dataset = rest.rsplit('_', 1)[-1]
    if dataset.startswith('vww-'):
        if dataset != 'vww-224px':
            return None
        dataset = 'vww'
    key = f'{model}_{dataset}'
    return key if key in PAPER_CLS_FIGURES else None


def ram_dtype(config_name: str) -> str:
    """The paper counts VWW RAM in int8 (the deployed model), the others in float32."""
    return 'int8' if '_vww-' in config_name else 'float32'


class ClassifierLayers(nn.Module):
    """Backbone, neck and head of an MMPretrain ``ImageClassifier`` as one plain module:
    normalised image in, class scores out (no data preprocessing)."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        for attr in ('extract_feat', 'head'):
            if not hasattr(classifier, attr):
                raise ValueError(f'ClassifierLayers needs an ImageClassifier with `{attr}`, '
                                 f'got {type(classifier).__name__}')
        self.classifier = classifier

    def forward(self, img: Tensor) -> Tensor:
        return self.classifier.head(self.classifier.extract_feat(img))


def analyze_classifier(classifier: nn.Module,
                       input_shape: Sequence[int] = (3, 224, 224)) -> ComplexityReport:
    """Count a classifier's parameters, MAdds and peak RAM (module docstring's conventions)."""
    return analyze_complexity(
        ClassifierLayers(classifier), input_shape, exclude=(), block_kinds=CLS_BLOCK_KINDS,
        image_on_the_fly=True)


def single_map_values(report: ComplexityReport) -> int:
    """Largest single map a block holds (its input or its output), in values."""
    return max((max(b.in_values, b.out_values) for b in report.blocks), default=0)
