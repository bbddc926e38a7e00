# The RNNPool paper's Table 2, Visual Wake Words column: the 3x3/2 conv (8 channels), then
# a strided convolution (6 x 6, stride 4, to 32 channels, + BN + ReLU) in place of RNNPool.
_base_ = ['./mobilenet-v2-0.35x-rnnpool_8xb32-150e_vww-224px.py']

model = dict(
    backbone=dict(
        downsample=dict(
            _delete_=True, type='StridedConv', out_channels=32, kernel_size=6, stride=4)))
