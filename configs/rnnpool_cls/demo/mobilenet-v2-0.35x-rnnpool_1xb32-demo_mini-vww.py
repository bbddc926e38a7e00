# The embedded run's RNNPool model (`make demo-vww`): MobileNetV2-0.35x-RNNPool, unchanged
# (the same model as ../mobilenet-v2-0.35x-rnnpool_8xb32-150e_vww-224px.py: RNNPool with patch 6,
# stride 4, h1 = h2 = 8 in place of the early blocks; a test checks the two model dicts are
# equal), with exactly the baseline demo's data, schedule and seed, so that the two runs differ
# only in the model.
_base_ = './mobilenet-v2-0.35x_1xb32-demo_mini-vww.py'

model = dict(
    backbone=dict(
        downsample=dict(
            _delete_=True, type='RNNPool', hidden_channels=8, kernel_size=6, stride=4),
        num_replaced=3))
