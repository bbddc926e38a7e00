# EfficientNet-B0-RNNPool (the RNNPool paper's Tables 1 and 9) on ImageNet-10: RNNPool (patch 6,
# stride 4, h1 = h2 = 16: 112 x 112 x 32 -> 28 x 28 x 64) in place of the 16-, 24- and
# 40-channel stages.
_base_ = ['./efficientnet-b0_8xb32-300e_in10.py']

model = dict(
    backbone=dict(
        type='EfficientNetRNNPool',
        downsample=dict(type='RNNPool', hidden_channels=16, kernel_size=6, stride=4),
        num_replaced=3))
