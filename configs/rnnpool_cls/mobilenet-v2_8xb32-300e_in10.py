# MobileNetV2 (MMPretrain's, unchanged) on ImageNet-10 (Tables 1, 2), with the RNNPool paper's
# recipe (Appendix G): the base network its RNNPool models are compared with.
_base_ = [
    'mmpretrain::_base_/models/mobilenet_v2_1x.py',
    '../_base_/datasets/imagenet10_bs32_224px.py',
    '../_base_/schedules/cls_sgd-0.05-cosine_300e.py',
    '../_base_/cls_default_runtime.py',
]
custom_imports = dict(imports=['mmdet_rnnpool.cls'], allow_failed_imports=False)

model = dict(head=dict(num_classes=10))
