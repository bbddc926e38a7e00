# The RNNPool paper's Table 2, DenseNet121 on ImageNet-10: the 7x7/2 conv, then average pooling (4
# x 4, stride 4; keeps 64 channels) in place of RNNPool (and of P1, D1, T1, D2).
_base_ = ['./densenet121-rnnpool_8xb32-300e_in10.py']

model = dict(
    backbone=dict(
        downsample=dict(_delete_=True, type='AvgPool2d', kernel_size=4)))
