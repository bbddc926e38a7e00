# The RNNPool paper's Table 16 ablation on MobileNetV2-RNNPool (ImageNet-10): stride 8, patch 12:
# RNNPool also replaces the 64-channel stage (4 more bottlenecks), from 112 x 112 to 14 x 14.
_base_ = ['./mobilenet-v2-rnnpool_8xb32-300e_in10.py']

model = dict(backbone=dict(downsample=dict(kernel_size=12, stride=8), num_replaced=4))
