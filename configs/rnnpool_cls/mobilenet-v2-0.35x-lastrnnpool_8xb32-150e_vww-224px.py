# The RNNPool paper's Table 2 "last layer RNNPool", Visual Wake Words: the base MobileNetV2-0.35x
# with RNNPool over the whole 7 x 7 x 320 map (h1 = h2 = 320 / 4 = 80) in place of average pooling.
_base_ = ['./mobilenet-v2-0.35x_8xb32-150e_vww-224px.py']

model = dict(neck=dict(_delete_=True, type='RNNPoolNeck', in_channels=320))
