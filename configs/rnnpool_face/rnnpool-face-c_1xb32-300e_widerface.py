# RNNPool-Face-C (paper Table 4: 1.52M params, 1.80G MAdds, 6.44 MB peak RAM at 640x480):
# RNNPool (8x8 patches, stride 4, h1 = h2 = 16, on the 3 RGB channels) + MobileNetV2
# bottlenecks, a detection head after every bottleneck stack. The architecture is the model
# base's default; see ../_base_/models/rnnpool_s3fd.py.
_base_ = [
    '../_base_/models/rnnpool_s3fd.py', '../_base_/datasets/wider_face.py',
    '../_base_/schedules/sgd_cosine_300e.py', '../_base_/default_runtime.py'
]
custom_imports = dict(imports=['mmdet_rnnpool'], allow_failed_imports=False)
