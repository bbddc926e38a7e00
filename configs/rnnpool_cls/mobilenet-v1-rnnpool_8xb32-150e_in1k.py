# MobileNetV1-RNNPool (the RNNPool paper's Table 3) on ImageNet-1K: RNNPool (patch 6, stride 4,
# h1 = h2 = 16: 112 x 112 x 32 -> 28 x 28 x 64) in place of the blocks that lead from stride 2
# to stride 8 (64/1, 128/2, 128/1, 256/2).
_base_ = ['./mobilenet-v1_8xb32-150e_in1k.py']

model = dict(
    backbone=dict(
        type='MobileNetV1RNNPool',
        downsample=dict(type='RNNPool', hidden_channels=16, kernel_size=6, stride=4)))
