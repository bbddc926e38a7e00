"""MMEngine hooks of mmdet_rnnpool."""
from .atomic_checkpoint_hook import AtomicCheckpointHook
from .rnn_sparsity_hook import (M4_KEEP_FRACTIONS, RNNSparsityHook, apply_rnn_sparsity,
                                hard_threshold_)

__all__ = [
    'AtomicCheckpointHook', 'RNNSparsityHook', 'apply_rnn_sparsity', 'hard_threshold_',
    'M4_KEEP_FRACTIONS'
]
