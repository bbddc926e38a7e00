# The RNNPool paper's Table 2, Visual Wake Words column: the 3x3/2 conv (8 channels), then
# ReNet (GRU sweeps over non-overlapping 4 x 4 patches, h1 = h2 = 16: 32
# channels like RNNPool) in place of RNNPool.
_base_ = ['./mobilenet-v2-0.35x-rnnpool_8xb32-150e_vww-224px.py']

model = dict(
    backbone=dict(
        downsample=dict(
            _delete_=True, type='ReNet', hidden_channels=16, patch_size=4, cell='gru')))
