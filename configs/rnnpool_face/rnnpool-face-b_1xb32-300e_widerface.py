# RNNPool-Face-B (paper Table 4: 1.12M params, 1.18G MAdds, 1.76 MB peak RAM at 640x480).
# RNNPool with h1 = h2 = 6 (24 channels = 4 * h2, as the table says), then four 3x3 convs at
# stride 4, a strided 3x3 conv to 96 channels and a 1x1 conv to 32, then bottleneck stacks.
# Heads: after the 3x3 convs (the table's second row, stride 4) and after each bottleneck stack.
_base_ = [
    '../_base_/models/rnnpool_s3fd.py', '../_base_/datasets/wider_face.py',
    '../_base_/schedules/sgd_cosine_300e.py', '../_base_/default_runtime.py'
]
custom_imports = dict(imports=['mmdet_rnnpool'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        rnnpool=dict(hidden_channels=(6, 6)),
        stages=[
            dict(type='conv', c=24, n=4, s=1, k=3),  # 0: 160x120, stride 4 -> head
            dict(type='conv', c=96, n=1, s=2, k=3),  # 1: 80x60
            dict(type='conv', c=32, n=1, s=1, k=1),  # 2: 80x60
            dict(type='bottleneck', t=6, c=32, n=3, s=1),  # 3: stride 8 -> head
            dict(type='bottleneck', t=6, c=64, n=3, s=2),  # 4: stride 16 -> head
            dict(type='bottleneck', t=6, c=128, n=2, s=2),  # 5: stride 32 -> head
            dict(type='bottleneck', t=6, c=160, n=1, s=2),  # 6: stride 64 -> head
            dict(type='bottleneck', t=6, c=320, n=1, s=2),  # 7: stride 128 -> head
        ],
        out_indices=(0, 3, 4, 5, 6, 7)),
    # 3x3 head convs (S3FD's): the release has no Face-B, and the paper gives no kernel.
    bbox_head=dict(kernel_sizes=3, in_channels=(24, 32, 64, 128, 160, 320)))
