# GoogLeNet-RNNPool (the RNNPool paper's Tables 1 and 9) on ImageNet-10: RNNPool (patch 8,
# stride 4, h1 = h2 = 32: 112 x 112 x 64 -> 28 x 28 x 128) in place of the stem after its first
# conv (max-pool, 1x1 conv, 3x3 conv, max-pool); inception 3a takes 128 channels.
_base_ = ['./googlenet_8xb32-300e_in10.py']

model = dict(
    backbone=dict(
        type='GoogLeNetRNNPool',
        downsample=dict(type='RNNPool', hidden_channels=32, kernel_size=8, stride=4)))
