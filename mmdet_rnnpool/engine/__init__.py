"""Training-time components (hooks) of mmdet_rnnpool."""
from .hooks import M4_KEEP_FRACTIONS, RNNSparsityHook, apply_rnn_sparsity, hard_threshold_

__all__ = ['RNNSparsityHook', 'apply_rnn_sparsity', 'hard_threshold_', 'M4_KEEP_FRACTIONS']
