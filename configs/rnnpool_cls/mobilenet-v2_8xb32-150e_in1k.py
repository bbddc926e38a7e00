# MobileNetV2 (MMPretrain's, unchanged) on ImageNet-1K (Table 3), with the RNNPool paper's recipe
# (Appendix G): the base network its RNNPool models are compared with.
_base_ = [
    'mmpretrain::_base_/models/mobilenet_v2_1x.py',
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    '../_base_/schedules/cls_sgd-0.05-cosine_150e.py',
    '../_base_/cls_default_runtime.py',
]
custom_imports = dict(imports=['mmdet_rnnpool.cls'], allow_failed_imports=False)

model = dict(head=dict(num_classes=1000))
