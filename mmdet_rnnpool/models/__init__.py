"""Models: the RNNPool-S3FD backbone, the S3FD head and assigner, and model utilities.

Importing this package registers the components in mmdet's ``MODELS`` / ``TASK_UTILS``.
"""
from .backbones import ResNetRNNPoolStem, RNNPoolS3FD
from .dense_heads import S3FDHead, max_out_background
from .task_modules import CellCenteredAnchorGenerator, S3FDAssigner
from .test_time_augs import BoxVotingTTAModel, box_vote
from .utils import (PAPER_FIGURES, BlockCost, ComplexityReport, DetectorLayers,
                    analyze_complexity, count_parameters, image_to_input, rnnpool_macs,
                    variant_of_config)

__all__ = [
    'RNNPoolS3FD', 'ResNetRNNPoolStem', 'S3FDHead', 'max_out_background', 'S3FDAssigner',
    'BoxVotingTTAModel', 'box_vote',
    'CellCenteredAnchorGenerator',
    'DetectorLayers', 'image_to_input', 'analyze_complexity', 'count_parameters',
    'rnnpool_macs', 'variant_of_config', 'BlockCost', 'ComplexityReport', 'PAPER_FIGURES'
]
