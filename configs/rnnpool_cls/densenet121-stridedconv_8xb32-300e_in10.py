# The RNNPool paper's Table 2, DenseNet121 on ImageNet-10: the 7x7/2 conv, then a strided
# convolution (8 x 8, stride 4, like the RNNPool patch, to 192 channels, + BN + ReLU) in place of
# RNNPool (and of P1, D1, T1, D2).
_base_ = ['./densenet121-rnnpool_8xb32-300e_in10.py']

model = dict(
    backbone=dict(
        downsample=dict(
            _delete_=True, type='StridedConv', out_channels=192, kernel_size=8, stride=4)))
