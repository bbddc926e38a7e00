# WIDER FACE for RNNPool-Face-M4: QVGA (320 x 240) monochrome input, single channel
# (H x W x 1; the model's data_preprocessor needs one mean / std value and
# bgr_to_rgb=False). Same layout and data_root handling as wider_face.py.
_base_ = './wider_face.py'

# DAS targets; the M4 model's anchors are set by its head config.
m4_anchor_sizes = (16, 32, 64, 128)

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True),
    # Colour distortion before the grey conversion, so it varies the luminance too.
    dict(
        type='PhotoMetricDistortion',
        brightness_delta=32,
        contrast_range=(0.5, 1.5),
        saturation_range=(0.5, 1.5),
        hue_delta=18),
    dict(
        type='RandomChoice',
        transforms=[
            [dict(type='DataAnchorSampling', crop_size=(320, 240),
                  anchor_sizes=m4_anchor_sizes)],
            [dict(type='ZoomInRandomCrop', crop_size=(320, 240), min_scale=0.3)],
        ]),
    dict(type='RandomFlip', prob=0.5),
    dict(type='ToGray'),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='ResizeToArea', area=320 * 240),
    dict(type='ToGray'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
# The multi-scale test (--tta) of wider_face.py with the grey conversion. The release ran it
# only for its RGB models; the views are the same here.
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(
        type='S3FDMultiScaleAug',
        max_area=1700 * 1200,
        small_face=30,
        large_face=100,
        transforms=[
            dict(type='ToGray'),
            dict(type='LoadAnnotations', with_bbox=True),
            dict(
                type='PackDetInputs',
                meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
        ]),
]
