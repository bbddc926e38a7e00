# MobileNetV2-0.35x on Visual Wake Words, the baseline of the RNNPool paper's VWW model
# (Table 2 "base network", VWW column: 296K params, 53.2M MAdds; Figure 3).
# The paper: "8 channels for the first convolution and 320 channels for the last convolution";
# width 0.35 elsewhere (bottleneck channels rounded to multiples of 8), 2 classes.
_base_ = [
    'mmpretrain::_base_/models/mobilenet_v2_1x.py', '../_base_/datasets/vww_bs32_224px.py',
    '../_base_/schedules/cls_sgd-0.05-cosine_150e.py', '../_base_/cls_default_runtime.py'
]
custom_imports = dict(imports=['mmdet_rnnpool.cls'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type='MobileNetV2RNNPool',
        widen_factor=0.35,
        stem_channels=8,
        last_channels=320,
        downsample=None),  # nothing replaced: the base network
    head=dict(num_classes=2, in_channels=320, topk=(1, )))
