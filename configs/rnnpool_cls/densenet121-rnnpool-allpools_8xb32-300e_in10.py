# DenseNet121-RNNPool with its three remaining pools replaced too (the RNNPool paper, Section 5.2):
# the average pools of T2 and T3 by RNNPool (patch 4, stride 2, h1 = h2 = k / 4 for the k = 256 /
# 512 channels of the transition), the final global pool by last-layer RNNPool (h = 1024 / 4).
_base_ = ['./densenet121-rnnpool-lastrnnpool_8xb32-300e_in10.py']

model = dict(
    backbone=dict(transition_pool=dict(type='RNNPool', kernel_size=4, stride=2)))
