"""Last-layer RNNPool: one patch = the whole map, h = channels / 4."""
import pytest
import torch

import mmdet_rnnpool.cls  # noqa: F401
from mmdet_rnnpool.cls.models.necks import RNNPoolNeck
from mmdet_rnnpool.ops import RNNPool


def test_neck_pools_the_whole_map_with_h_channels_over_4():
    torch.manual_seed(0)
    neck = RNNPoolNeck(in_channels=320)
    pool = neck.pools[0]
    assert pool.hidden_channels == (80, 80) and pool.out_channels == 320  # the VWW figures
    x = torch.randn(2, 320, 7, 7)
    (y, ) = neck((x, ))
    assert y.shape == (2, 320)
    # The same weights as a 7 x 7 patch RNNPool over the map: one output pixel.
    reference = RNNPool(320, (80, 80), kernel_size=7, stride=7)
    reference.load_state_dict(pool.state_dict())
    torch.testing.assert_close(y, reference(x).flatten(1))
    # Any map size: a model trained at one resolution runs at another.
    assert neck(torch.randn(1, 320, 3, 5)).shape == (1, 320)


def test_neck_trains_and_checks_its_input():
    neck = RNNPoolNeck(in_channels=[8, 16], hidden_channels=4)
    outs = neck((torch.randn(2, 8, 4, 4, requires_grad=True), torch.randn(2, 16, 2, 2)))
    assert [o.shape for o in outs] == [(2, 16), (2, 16)]
    sum(o.sum() for o in outs).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in neck.parameters())
    with pytest.raises(ValueError, match='multiple of 4'):
        RNNPoolNeck(in_channels=10)
    with pytest.raises(ValueError, match='built for 2 inputs, got 1'):
        neck((torch.randn(1, 8, 2, 2), ))
