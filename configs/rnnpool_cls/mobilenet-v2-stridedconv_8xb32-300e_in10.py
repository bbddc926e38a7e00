# The RNNPool paper's Table 2, MobileNetV2 on ImageNet-10: the 3x3/2 conv, then a strided
# convolution (6 x 6, stride 4, like the RNNPool patch, to 64 channels, + BN + ReLU) in place of
# RNNPool (and of the early blocks).
_base_ = ['./mobilenet-v2-rnnpool_8xb32-300e_in10.py']

model = dict(
    backbone=dict(
        downsample=dict(
            _delete_=True, type='StridedConv', out_channels=64, kernel_size=6, stride=4)))
