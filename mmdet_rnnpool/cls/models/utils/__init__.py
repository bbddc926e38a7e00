"""Building blocks shared by the RNNPool classifiers."""
from .early_downsample import EarlyDownsample, ReplicatePadToStride, TransitionDownsample

__all__ = ['EarlyDownsample', 'ReplicatePadToStride', 'TransitionDownsample']
