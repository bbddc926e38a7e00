# ImageNet-10 (the RNNPool paper's Table 6: ten synsets matching CIFAR-10's classes, 1300
# training and 50 validation images each) for MMPretrain, 224 x 224, 32 a GPU.
# Layout under data_root (written by tools/dataset_converters/build_imagenet10.py from an
# ImageNet folder):
#   meta/train.txt, meta/val.txt   one "relative/image/path label" line an image, labels in
#                                  the order of imagenet10_classes; paths relative to data_root
# Recipe (paper Appendix G): random resized crop (scale 0.08 - 1, aspect 3/4 - 4/3) to 224,
# horizontal flip; validation: short edge to 256, centre crop 224.
_base_ = 'mmpretrain::_base_/datasets/imagenet_bs32.py'

dataset_type = 'CustomDataset'
data_root = 'data/imagenet10/'
imagenet10_classes = ('airliner', 'sports car', 'bulbul', 'Egyptian cat', 'deer',
                      'golden retriever', 'bullfrog', 'horse cart', 'ocean liner',
                      'trailer truck')

data_preprocessor = dict(num_classes=10)

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        ann_file='meta/train.txt',
        data_prefix='',
        metainfo=dict(classes=imagenet10_classes),
        pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        ann_file='meta/val.txt',
        data_prefix='',
        metainfo=dict(classes=imagenet10_classes),
        pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
