# WIDER FACE for RNNPool-Face-M4: QVGA (320 x 240) monochrome input, single channel
# (H x W x 1; the model's data_preprocessor needs one mean / std value and
# bgr_to_rgb=False). Same layout and data_root handling as wider_face.py.
_base_ = './wider_face.py'

# DAS targets: the M4 model's anchors (its head config; the release's QVGA anchors).
m4_anchor_sizes = (8, 16, 32, 48)
# The release's QVGA recipe drops only faces of 1 px^2 or less after the crop (its 640 x 640
# recipe: 36 px^2).
m4_min_gt_area = 1

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True),
    # Colour distortion before the grey conversion, so it varies the luminance too.
    # The release's distortion (PIL ImageEnhance): multiplicative brightness, contrast
    # around the mean grey, no channel permutation; hue in PIL units (18 ~ 25 degrees).
    dict(
        type='ImageEnhanceDistortion',
        brightness_range=(0.875, 1.125),
        contrast_range=(0.5, 1.5),
        saturation_range=(0.5, 1.5),
        hue_delta=18,
        prob=0.5),
    dict(
        type='RandomChoice',
        transforms=[
            [dict(type='DataAnchorSampling', crop_size=(320, 240),
                  anchor_sizes=m4_anchor_sizes, min_gt_area=m4_min_gt_area)],
            [dict(type='ZoomInRandomCrop', crop_size=(320, 240), min_scale=0.3,
                  min_gt_area=m4_min_gt_area)],
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
