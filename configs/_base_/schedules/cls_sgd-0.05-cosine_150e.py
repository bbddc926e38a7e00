# The RNNPool paper's classification schedule (Appendix G): SGD, momentum 0.9, weight decay
# 4e-5, lr 0.05 at batch 256 with cosine decay (no warm-up), 150 epochs (ImageNet-1K and
# Visual Wake Words).
# MMPretrain's ImageNet cosine schedule with what differs; `--auto-scale-lr` rescales lr for a
# total batch other than 256 (8 GPUs x 32).
_base_ = 'mmpretrain::_base_/schedules/imagenet_bs256_coslr.py'

max_epochs = 150
optim_wrapper = dict(optimizer=dict(lr=0.05, momentum=0.9, weight_decay=4e-5))
param_scheduler = dict(T_max=max_epochs, end=max_epochs)
train_cfg = dict(max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=256)
