# MMPretrain's default runtime, keeping the best validation top-1 checkpoint too: the RNNPool
# paper reports the best top-1 on validation (Appendix G).
_base_ = 'mmpretrain::_base_/default_runtime.py'

default_hooks = dict(checkpoint=dict(save_best='accuracy/top1', rule='greater', max_keep_ckpts=2))
