# MobileNetV1-ReNet (the RNNPool paper's Table 3) on ImageNet-1K: ReNet (GRU sweeps over
# non-overlapping 4 x 4 patches, h1 = h2 = 32: 28 x 28 x 64) in place of RNNPool.
_base_ = ['./mobilenet-v1-rnnpool_8xb32-150e_in1k.py']

model = dict(
    backbone=dict(
        downsample=dict(
            _delete_=True, type='ReNet', hidden_channels=32, patch_size=4, cell='gru')))
