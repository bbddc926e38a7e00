# The RNNPool paper's Table 2 "last layer RNNPool", DenseNet121 on ImageNet-10: the base network
# with RNNPool over the whole 7 x 7 x 1024 map (h1 = h2 = 256) in place of global average pooling.
_base_ = ['./densenet121_8xb32-300e_in10.py']

model = dict(neck=dict(_delete_=True, type='RNNPoolNeck', in_channels=1024))
