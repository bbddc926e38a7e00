# The embedded run's model with the paper's last-layer RNNPool as well (Table 2 "RNNPoolLayer +
# last layer RNNPool", VWW column): ../mobilenet-v2-0.35x-rnnpool-lastrnnpool_8xb32-150e_vww-224px.py
# on the mini VWW set with the demo's data, schedule and seed. It is the classifier the
# Cortex-M4 exporter's last-layer RNNPool path is measured on (mcu_export, issue 13).
_base_ = './mobilenet-v2-0.35x-rnnpool_1xb32-demo_mini-vww.py'

model = dict(neck=dict(_delete_=True, type='RNNPoolNeck', in_channels=320))
