"""Model utilities: the layers-only detector and complexity counting."""
from .complexity import (PAPER_FIGURES, BlockCost, ComplexityReport, analyze_complexity,
                         count_parameters, rnnpool_macs, variant_of_config)
from .layers_only import DetectorLayers, image_to_input

__all__ = [
    'DetectorLayers', 'image_to_input', 'analyze_complexity', 'count_parameters', 'rnnpool_macs',
    'variant_of_config', 'BlockCost', 'ComplexityReport', 'PAPER_FIGURES'
]
