# ImageNet-10 (the paper's Table 6: ten synsets matching CIFAR-10's classes, 1300 train and 50
# validation images each), as written by
#   python tools/dataset_converters/build_imagenet10.py IMAGENET_ROOT \
#       --deer-dir IMAGENET22K/n02430045 --out data/imagenet10
#   <data_root>/meta/{train,val}.txt   "imagenet/train/n02690373/<file>.JPEG 0", "deer/<file> 4"
#   <data_root>/imagenet, <data_root>/deer   links to the image folders
# Read by MMPretrain's own CustomDataset. Another copy: IMAGENET10_ROOT=/path/ or
# --cfg-options data_root=/path/.
#
# The paper's recipe (Appendix G): random resized crop over 8-100 % of the area, aspect
# 3/4-4/3, to 224, horizontal flip, mean / std normalisation; validation resizes the short
# side to 256 and centre-crops 224. Batch 256.
dataset_type = 'CustomDataset'
data_root = '{{$IMAGENET10_ROOT:data/imagenet10/}}'
imagenet10_classes = ('airliner', 'sports car', 'bulbul', 'Egyptian cat', 'deer',
                      'golden retriever', 'bullfrog', 'horse cart', 'ocean liner',
                      'trailer truck')

data_preprocessor = dict(
    num_classes=10,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.08, 1.0),
         aspect_ratio_range=(3. / 4., 4. / 3.)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=256,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='meta/train.txt',
        data_prefix='',
        metainfo=dict(classes=imagenet10_classes),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=256,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='meta/val.txt',
        data_prefix='',
        metainfo=dict(classes=imagenet10_classes),
        pipeline=test_pipeline))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
