"""STAND-IN (rnnpoolc's branch only): opreg's ``mcu_export/ops/__init__.py`` replaces this file
on merge; rnnpoolc's one import line there is ``from .rnnpool_last import RNNPoolLastLayer``."""
from .base import OPS, Op, get_op, register_op
from .rnnpool import FastGRNNCell, RNNPoolLayer
from .rnnpool_last import RNNPoolLastLayer

__all__ = ['OPS', 'Op', 'get_op', 'register_op', 'FastGRNNCell', 'RNNPoolLayer',
           'RNNPoolLastLayer']
