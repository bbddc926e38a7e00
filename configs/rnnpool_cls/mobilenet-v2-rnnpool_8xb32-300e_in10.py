# MobileNetV2-RNNPool (the RNNPool paper's Table 10) on ImageNet-10 (Tables 1, 2): 3x3/2 conv to 32
# channels, RNNPool (patch 6, stride 4, h1 = h2 = 16: 112 x 112 x 32 -> 28 x 28 x 64, 27 x 27
# patches padded to 28 x 28 by replicating the last row / column) in place of the 16-, 24- and
# 32-channel stages, then the bottlenecks from the 64-channel stage on.
_base_ = [
    'mmpretrain::_base_/models/mobilenet_v2_1x.py',
    '../_base_/datasets/imagenet10_bs32_224px.py',
    '../_base_/schedules/cls_sgd-0.05-cosine_300e.py',
    '../_base_/cls_default_runtime.py',
]
custom_imports = dict(imports=['mmdet_rnnpool.cls'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type='MobileNetV2RNNPool',
        downsample=dict(type='RNNPool', hidden_channels=16, kernel_size=6, stride=4),
        num_replaced=3),
    head=dict(num_classes=10))
