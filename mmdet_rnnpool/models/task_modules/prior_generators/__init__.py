"""Prior (anchor) generators."""
from .cell_centered_anchor_generator import CellCenteredAnchorGenerator

__all__ = ['CellCenteredAnchorGenerator']
