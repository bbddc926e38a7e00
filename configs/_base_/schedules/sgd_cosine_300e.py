# The paper's schedule for the RNNPool face detectors: SGD (momentum 0.9, weight decay 4e-5),
# lr 0.01 at batch 32, linear warm-up for 5 epochs, then cosine decay to 0 at epoch 300.
# The batch size (32 = 1 GPU x 32) is set by the dataset base / the variant config.
max_epochs = 300
warmup_epochs = 5

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.001,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - warmup_epochs,
        eta_min=0.0,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True)
]

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=4e-5))

# lr 0.01 is for a total batch of 32; `--auto-scale-lr` rescales it for other batch sizes.
auto_scale_lr = dict(enable=False, base_batch_size=32)
