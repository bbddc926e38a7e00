# The RNNPool paper's Table 2 "RNNPoolLayer + last layer RNNPool", MobileNetV2 on ImageNet-10.
_base_ = ['./mobilenet-v2-rnnpool_8xb32-300e_in10.py']

model = dict(neck=dict(_delete_=True, type='RNNPoolNeck', in_channels=1280))
