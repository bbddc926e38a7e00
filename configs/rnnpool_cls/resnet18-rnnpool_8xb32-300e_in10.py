# ResNet18-RNNPool (the RNNPool paper's Tables 1 and 9) on ImageNet-10: RNNPool (patch 8,
# stride 4, h1 = h2 = 32: 112 x 112 x 64 -> 28 x 28 x 128) in place of the max-pool, layer1 and
# layer2.
_base_ = ['./resnet18_8xb32-300e_in10.py']

model = dict(
    backbone=dict(
        type='ResNetRNNPool',
        downsample=dict(type='RNNPool', hidden_channels=32, kernel_size=8, stride=4),
        num_replaced=2,
        out_indices=None))
