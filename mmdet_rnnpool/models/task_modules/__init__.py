"""Task modules (assigners, prior generators)."""
from .assigners import S3FDAssigner
from .prior_generators import CellCenteredAnchorGenerator

__all__ = ['S3FDAssigner', 'CellCenteredAnchorGenerator']
