# The RNNPool paper's Table 2 "RNNPoolLayer + last layer RNNPool", DenseNet121 on ImageNet-10.
_base_ = ['./densenet121-rnnpool_8xb32-300e_in10.py']

model = dict(neck=dict(_delete_=True, type='RNNPoolNeck', in_channels=1024))
