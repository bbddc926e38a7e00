# MobileNetV1 (Howard et al. 2017) on ImageNet-1K with the RNNPool paper's recipe (Table 3 base).
# MMPretrain has no MobileNetV1: the backbone is this plugin's.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    '../_base_/schedules/cls_sgd-0.05-cosine_150e.py',
    '../_base_/cls_default_runtime.py',
]
custom_imports = dict(imports=['mmdet_rnnpool.cls'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(type='MobileNetV1'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=1024,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))
