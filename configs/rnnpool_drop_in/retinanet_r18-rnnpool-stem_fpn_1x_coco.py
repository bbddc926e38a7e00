# RNNPool as a drop-in pooling layer: the stock mmdet RetinaNet-R18 with the ResNet stem's
# 3x3/2 max-pool replaced by RNNPool (same window rule, 4 * 16 = 64 output channels).
# Only the backbone changes; everything else comes from the stock config.
_base_ = 'mmdet::retinanet/retinanet_r18_fpn_1x_coco.py'

custom_imports = dict(
    imports=['mmdet_rnnpool.models.backbones.resnet_rnnpool_stem'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type='ResNetRNNPoolStem',
        stem_pool=dict(
            type='RNNPool',
            in_channels=64,
            hidden_channels=(16, 16),
            kernel_size=3,
            stride=2,
            padding=1)))
