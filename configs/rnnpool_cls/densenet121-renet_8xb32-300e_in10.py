# The RNNPool paper's Table 2, DenseNet121 on ImageNet-10: the 7x7/2 conv, then ReNet (GRU sweeps
# over non-overlapping 4 x 4 patches, h1 = h2 = 96: 192 channels like RNNPool) in place of RNNPool
# (and of P1, D1, T1, D2).
_base_ = ['./densenet121-rnnpool_8xb32-300e_in10.py']

model = dict(
    backbone=dict(
        downsample=dict(
            _delete_=True, type='ReNet', hidden_channels=96, patch_size=4, cell='gru')))
