# DenseNet121-RNNPool (the RNNPool paper's Tables 1 and 9) on ImageNet-10: RNNPool (patch 8,
# stride 4, h1 = h2 = 48: 112 x 112 x 64 -> 28 x 28 x 192) in place of P1, D1, T1 and D2 (39
# layers); T2 takes its 192 channels and still gives D3 256.
_base_ = ['./densenet121_8xb32-300e_in10.py']

model = dict(
    backbone=dict(
        type='DenseNetRNNPool',
        downsample=dict(type='RNNPool', hidden_channels=48, kernel_size=8, stride=4)))
