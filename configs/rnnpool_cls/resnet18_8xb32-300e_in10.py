# ResNet18 (MMPretrain's, unchanged) on ImageNet-10 with the RNNPool paper's recipe (Table 1 base).
_base_ = [
    'mmpretrain::_base_/models/resnet18.py',
    '../_base_/datasets/imagenet10_bs32_224px.py',
    '../_base_/schedules/cls_sgd-0.05-cosine_300e.py',
    '../_base_/cls_default_runtime.py',
]
custom_imports = dict(imports=['mmdet_rnnpool.cls'], allow_failed_imports=False)

model = dict(head=dict(num_classes=10))
