# The RNNPool paper's Table 2, Visual Wake Words column: the 3x3/2 conv (8 channels), then
# average pooling (4 x 4, stride 4; keeps 8 channels) in place of RNNPool.
_base_ = ['./mobilenet-v2-0.35x-rnnpool_8xb32-150e_vww-224px.py']

model = dict(
    backbone=dict(
        downsample=dict(_delete_=True, type='AvgPool2d', kernel_size=4)))
