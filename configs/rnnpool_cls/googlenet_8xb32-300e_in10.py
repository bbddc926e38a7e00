# GoogLeNet (Szegedy et al. 2015, every conv with BN, no auxiliary classifiers) on ImageNet-10
# with the RNNPool paper's recipe (Table 1 base). MMPretrain has no GoogLeNet: the backbone is
# this plugin's.
_base_ = [
    '../_base_/datasets/imagenet10_bs32_224px.py',
    '../_base_/schedules/cls_sgd-0.05-cosine_300e.py',
    '../_base_/cls_default_runtime.py',
]
custom_imports = dict(imports=['mmdet_rnnpool.cls'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(type='GoogLeNet'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=1024,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))
