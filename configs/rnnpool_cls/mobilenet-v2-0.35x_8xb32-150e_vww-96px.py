# mobilenet-v2-0.35x on Visual Wake Words at 96 x 96 (the RNNPool paper's Figure 3 sweeps 96 - 224
# px): the 224 px config with the crop at 96 and the validation resize at the same 256 / 224 ratio
# (short edge 110).
_base_ = ['./mobilenet-v2-0.35x_8xb32-150e_vww-224px.py']

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=96, crop_ratio_range=(0.2, 1.0),
         aspect_ratio_range=(3. / 4., 4. / 3.)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=110, edge='short'),
    dict(type='CenterCrop', crop_size=96),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
