# The previous model with 14 dense layers dropped from D3 and 10 from D4 (the RNNPool paper,
# Section 5.2: 0.79G MAdds, 0.43 MB, 94.2 %).
_base_ = ['./densenet121-rnnpool-allpools_8xb32-300e_in10.py']

model = dict(
    backbone=dict(
        arch=dict(_delete_=True, growth_rate=32, depths=[6, 12, 10, 6], init_channels=64)),
    neck=dict(in_channels=480),
    head=dict(in_channels=480))
