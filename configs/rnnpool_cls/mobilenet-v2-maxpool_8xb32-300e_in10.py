# The RNNPool paper's Table 2, MobileNetV2 on ImageNet-10: the 3x3/2 conv, then max pooling (4 x 4,
# stride 4; keeps 32 channels) in place of RNNPool (and of the early blocks).
_base_ = ['./mobilenet-v2-rnnpool_8xb32-300e_in10.py']

model = dict(
    backbone=dict(
        downsample=dict(_delete_=True, type='MaxPool2d', kernel_size=4)))
