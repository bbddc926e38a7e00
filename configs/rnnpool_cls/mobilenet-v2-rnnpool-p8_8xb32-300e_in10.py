# The RNNPool paper's Table 16 ablation on MobileNetV2-RNNPool (ImageNet-10): patch 8.
_base_ = ['./mobilenet-v2-rnnpool_8xb32-300e_in10.py']

model = dict(backbone=dict(downsample=dict(kernel_size=8)))
