# MobileNetV2-0.35x-RNNPool, the RNNPool paper's Visual Wake Words model (Table 2 "RNNPoolLayer",
# VWW column: 255K params, 37.7M MAdds; Figure 3: 33.68 KB peak RAM at 224 x 224).
# 3x3/2 conv to 8 channels (112 x 112), RNNPool (patch 6, stride 4, h1 = h2 = 8: 32 channels,
# 27 x 27 patches padded to 28 x 28 by replicating the last row / column, as the authors'
# release does), then the bottlenecks of Table 10 from its third row on at width 0.35, the last
# 1x1 conv to 320 channels, average pooling and a linear layer to 2 classes.
_base_ = ['./mobilenet-v2-0.35x_8xb32-150e_vww-224px.py']

model = dict(
    backbone=dict(
        downsample=dict(
            _delete_=True, type='RNNPool', hidden_channels=8, kernel_size=6, stride=4),
        num_replaced=3))
