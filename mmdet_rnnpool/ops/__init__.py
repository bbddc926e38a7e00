"""RNNPool operator, its recurrent cells, and the ReNet comparator."""
from .cells import (FASTGRNN_NU_INIT, FASTGRNN_ZETA_INIT, RNN_CELLS, BaseRNNCell, FastGRNNCell,
                    GRUCell, LSTMCell, build_rnn_cell, quant_sigmoid, quant_tanh, run_recurrence,
                    sigmoid_tanh)
from .renet import ReNet
from .rnnpool import RNNPool, pool_output_size, rnn_pool2d

__all__ = [
    'BaseRNNCell', 'FastGRNNCell', 'GRUCell', 'LSTMCell', 'RNN_CELLS', 'build_rnn_cell',
    'run_recurrence', 'quant_sigmoid', 'quant_tanh', 'sigmoid_tanh', 'FASTGRNN_ZETA_INIT',
    'FASTGRNN_NU_INIT', 'RNNPool', 'rnn_pool2d', 'pool_output_size', 'ReNet'
]
