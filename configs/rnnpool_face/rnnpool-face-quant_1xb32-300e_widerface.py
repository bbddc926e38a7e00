# RNNPool-Face-Quant (paper Table 4: 0.07M params, 0.12G MAdds, 225 KB int8 peak RAM at
# 640x480): two 3x3 convs (4 channels, the first with stride 2), RNNPool on their 320x240x4
# output, then bottlenecks with expansion 2; an int8-friendly model.
# Choices where the paper is ambiguous:
# - RNNPool: h1 = h2 = 8 (the text's "4" would give 16 channels, the table says 32 = 4 * h2;
#   the authors' release used 8), piecewise-linear quantSigmoid / quantTanh in the cells.
# - First head: "a strided 3x3 conv to reach stride 4" on the second stem conv's output
#   (stride 2), as the authors' release builds it: L2Norm on the stride-2 source first, then
#   separate score and box branches, each a 3x3 stride-2 conv + BN + ReLU from 4 to 8 channels
#   and a 3x3 conv. Its maps are streamed row by row on the MCU (never whole).
# - Other heads: 3x3 convs (the release's Face-Quant heads; the Face-C kernels are not used).
_base_ = [
    '../_base_/models/rnnpool_s3fd.py', '../_base_/datasets/wider_face.py',
    '../_base_/schedules/sgd_cosine_300e.py', '../_base_/default_runtime.py'
]
custom_imports = dict(imports=['mmdet_rnnpool'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        stem=[
            dict(out_channels=4, kernel_size=3, stride=2),  # 320x240, stride 2
            dict(out_channels=4, kernel_size=3, stride=1),  # 320x240 -> head (via conv s2)
        ],
        rnnpool=dict(hidden_channels=(8, 8), nonlinearity='quant'),
        stages=[
            dict(type='bottleneck', t=2, c=16, n=4, s=1),  # 0: 80x60, stride 8 -> head
            dict(type='bottleneck', t=2, c=24, n=4, s=2),  # 1: stride 16 -> head
            dict(type='bottleneck', t=2, c=32, n=2, s=2),  # 2: stride 32 -> head
            dict(type='bottleneck', t=2, c=64, n=1, s=2),  # 3: stride 64 -> head
            dict(type='bottleneck', t=2, c=96, n=1, s=2),  # 4: stride 128 -> head
        ],
        stem_out_indices=(1, ),
        out_indices=(0, 1, 2, 3, 4)),
    bbox_head=dict(
        in_channels=(4, 16, 24, 32, 64, 96),
        kernel_sizes=3,
        branch_convs=[dict(out_channels=8, kernel_size=3, stride=2), None, None, None, None, None],
        act_cfg=dict(type='ReLU')))
