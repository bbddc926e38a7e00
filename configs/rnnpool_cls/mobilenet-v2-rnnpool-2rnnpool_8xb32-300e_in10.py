# The RNNPool paper's Table 16 ablation on MobileNetV2-RNNPool (ImageNet-10): two RNNPools: stride
# 4 patch 6 (28 x 28 x 64), then stride 2 patch 4 (h1 = h2 = 16, 14 x 14 x 64) in place of the
# 64-channel stage.
_base_ = ['./mobilenet-v2-rnnpool_8xb32-300e_in10.py']

model = dict(backbone=dict(downsample=[
            dict(type='RNNPool', hidden_channels=16, kernel_size=6, stride=4),
            dict(type='RNNPool', hidden_channels=16, kernel_size=4, stride=2)
        ],
        num_replaced=4))
