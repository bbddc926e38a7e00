"""Training-time components (hooks) of mmdet_rnnpool."""
from .hooks import (M4_KEEP_FRACTIONS, AtomicCheckpointHook, RNNSparsityHook, apply_rnn_sparsity,
                    hard_threshold_)

__all__ = [
    'AtomicCheckpointHook', 'RNNSparsityHook', 'apply_rnn_sparsity', 'hard_threshold_',
    'M4_KEEP_FRACTIONS'
]
