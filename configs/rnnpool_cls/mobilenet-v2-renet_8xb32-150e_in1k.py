# MobileNetV2-ReNet on ImageNet-1K (Table 3): the RNNPool model with ReNet (Visin et al. 2015) in
# place of RNNPool: GRU row then column sweeps over non-overlapping 4 x 4 patches, h1 = h2 = 32, so
# it also gives 28 x 28 x 64.
_base_ = ['./mobilenet-v2-rnnpool_8xb32-150e_in1k.py']

model = dict(
    backbone=dict(
        downsample=dict(
            _delete_=True, type='ReNet', hidden_channels=32, patch_size=4, cell='gru')))
