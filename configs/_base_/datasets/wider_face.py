# WIDER FACE, read straight from the official release layout (no conversion step):
#   <data_root>/WIDER_{train,val}/images/<event>/*.jpg
#   <data_root>/wider_face_split/wider_face_{train,val}_bbx_gt.txt
#   <data_root>/eval_tools/ground_truth/wider_{face,easy,medium,hard}_val.mat
#
# Pointing a config at another copy (e.g. the mini dataset written by
# tools/dataset_converters/build_mini_wider.py), either
#   python tools/train.py CONFIG --cfg-options data_root=data/mini_wider/
# (this project's tools move every path derived from data_root, see
# mmdet_rnnpool.datasets.rebase_data_root; MMEngine's plain merge would change only the
# variable, since it expands data_root into the dicts below when it parses this file), or
#   WIDER_FACE_ROOT=data/mini_wider/ python tools/train.py CONFIG
# which works with any MMEngine tool.
dataset_type = 'WIDERFaceOfficialDataset'
data_root = '{{$WIDER_FACE_ROOT:data/WIDERFace/}}'
backend_args = None

# S3FD augmentation: colour distortion, then data-anchor-sampling or the zoom-in crop
# (one of the two, evenly) to 640 x 640, then a horizontal flip.
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
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
            [dict(type='DataAnchorSampling', crop_size=640,
                  anchor_sizes=(16, 32, 64, 128, 256, 512))],
            [dict(type='ZoomInRandomCrop', crop_size=640, min_scale=0.3)],
        ]),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
# The paper tests at the area of 640 x 480, keeping each image's aspect ratio;
# predictions map back to the original image through scale_factor.
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='ResizeToArea', area=640 * 480),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='wider_face_split/wider_face_train_bbx_gt.txt',
        data_prefix=dict(img='WIDER_train/images/'),
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='wider_face_split/wider_face_val_bbx_gt.txt',
        data_prefix=dict(img='WIDER_val/images/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='WIDERFaceMetric', gt_dir=data_root.rstrip('/') + '/eval_tools/ground_truth/')
test_evaluator = val_evaluator

# The release's multi-scale WIDER FACE test (`tools/test.py CONFIG CKPT --tta`): each image at
# its original resolution (shrunk only above 1700 x 1200), flipped, at 0.5x (faces > 30 px
# only) and enlarged (faces < 100 px only); each view through the model's test_cfg (score >=
# 0.01, NMS 0.3, 5000 / 750 boxes), then box voting (IoU 0.3) over all views, score >= 0.05,
# 750 boxes. Its metrics are named widerface/multiscale/{easy,medium,hard,...}. The default
# test above (single scale at the area of 640 x 480) is what the microcontroller sees.
tta_model = dict(
    type='BoxVotingTTAModel',
    tta_cfg=dict(score_thr=0.05, iou_thr=0.3, max_per_img=750, drop_singletons=True,
                 protocol='multiscale'))
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(
        type='S3FDMultiScaleAug',
        max_area=1700 * 1200,
        small_face=30,
        large_face=100,
        transforms=[
            dict(type='LoadAnnotations', with_bbox=True),
            dict(
                type='PackDetInputs',
                meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
        ]),
]
