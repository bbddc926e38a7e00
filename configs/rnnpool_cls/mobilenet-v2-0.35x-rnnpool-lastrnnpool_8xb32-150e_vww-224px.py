# The RNNPool paper's Table 2 "RNNPoolLayer + last layer RNNPool", Visual Wake Words.
_base_ = ['./mobilenet-v2-0.35x-rnnpool_8xb32-150e_vww-224px.py']

model = dict(neck=dict(_delete_=True, type='RNNPoolNeck', in_channels=320))
