"""Array operations behind the S3FD crops: take a window of the image, resize it to the
output size (padding what lies outside the image) and carry the boxes along.

Both the zoom-in crop and data-anchor-sampling reduce to "choose a window in the source
image, map it onto ``out_size``"; cropping before resizing keeps the cost independent of the
zoom factor. Everything here is plain numpy / OpenCV so it can be tested on its own.
"""
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np

#: ``(x0, y0, x1, y1)`` of a window in source pixels; may extend beyond the image.
Window = Tuple[float, float, float, float]
#: ``(ax, bx, ay, by)``: the window maps source ``x`` to ``ax * x + bx`` (same for y).
Affine = Tuple[float, float, float, float]


def _pad_vector(pad_val: Union[float, Sequence[float]], channels: int) -> np.ndarray:
    pad = np.atleast_1d(np.asarray(pad_val, dtype=np.float64))
    if pad.size == 1:
        return np.repeat(pad, channels)
    if pad.size != channels:
        raise ValueError(f'pad_val has {pad.size} values but the image has {channels} '
                         'channels; give one value or one per channel')
    return pad


#: The OpenCV interpolations the release draws from when it resizes a training image.
RANDOM_INTERPOLATIONS = (cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_AREA, cv2.INTER_NEAREST,
                         cv2.INTER_LANCZOS4)


def crop_resize_window(img: np.ndarray, window: Window, out_size: Tuple[int, int],
                       pad_val: Union[float, Sequence[float]] = 0,
                       interpolation: Optional[int] = None) -> Tuple[np.ndarray, Affine]:
    """Map ``window`` of ``img`` onto an ``out_size`` image.

    The part of the window inside the image is cropped and resized (with ``interpolation``;
    by default area interpolation when shrinking, bilinear when enlarging); the rest is
    filled with ``pad_val``. The returned affine map is exact for the pixels actually placed,
    so boxes mapped with it line up with the image content.

    Args:
        img (np.ndarray): ``(H, W)`` or ``(H, W, C)`` image of any dtype OpenCV resizes.
        window (tuple): ``(x0, y0, x1, y1)`` in source pixels, ``x1 > x0`` and ``y1 > y0``.
        out_size (tuple[int, int]): ``(width, height)`` of the output.
        pad_val (float | Sequence[float]): Fill value, one or one per channel.
            Defaults to 0.
        interpolation (int, optional): An OpenCV interpolation flag. Defaults to None
            (area when shrinking, bilinear otherwise).

    Returns:
        tuple: The output image (same dtype and channel layout as ``img``) and the affine map
        ``(ax, bx, ay, by)`` from source to output coordinates.
    """
    out_w, out_h = int(out_size[0]), int(out_size[1])
    x0, y0, x1, y1 = (float(v) for v in window)
    if out_w <= 0 or out_h <= 0:
        raise ValueError(f'out_size must be positive, got {out_size}')
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f'window must have positive size, got {window}')
    src_h, src_w = img.shape[:2]
    channels = 1 if img.ndim == 2 else img.shape[2]
    pad = _pad_vector(pad_val, channels)
    out = np.empty((out_h, out_w, channels), dtype=img.dtype)
    out[...] = pad.astype(img.dtype) if img.dtype != np.uint8 else np.clip(
        np.round(pad), 0, 255).astype(np.uint8)
    sx, sy = out_w / (x1 - x0), out_h / (y1 - y0)
    # Integer source rows/columns inside both the image and the window.
    ix0, iy0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    ix1, iy1 = min(src_w, int(np.ceil(x1))), min(src_h, int(np.ceil(y1)))
    # Where they land in the output, rounded to whole pixels.
    dx0 = int(np.clip(np.round((ix0 - x0) * sx), 0, out_w))
    dx1 = int(np.clip(np.round((ix1 - x0) * sx), 0, out_w))
    dy0 = int(np.clip(np.round((iy0 - y0) * sy), 0, out_h))
    dy1 = int(np.clip(np.round((iy1 - y0) * sy), 0, out_h))
    if ix1 <= ix0 or iy1 <= iy0 or dx1 <= dx0 or dy1 <= dy0:
        # Nothing of the image is visible: keep the nominal map.
        affine = (sx, -x0 * sx, sy, -y0 * sy)
    else:
        # Source pixels [ix0, ix1) fill output pixels [dx0, dx1) exactly.
        ax, ay = (dx1 - dx0) / (ix1 - ix0), (dy1 - dy0) / (iy1 - iy0)
        affine = (ax, dx0 - ix0 * ax, ay, dy0 - iy0 * ay)
        patch = img[iy0:iy1, ix0:ix1]
        if interpolation is None:
            shrinking = (dx1 - dx0) < (ix1 - ix0) and (dy1 - dy0) < (iy1 - iy0)
            interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        resized = cv2.resize(
            np.ascontiguousarray(patch), (dx1 - dx0, dy1 - dy0), interpolation=interpolation)
        out[dy0:dy1, dx0:dx1] = resized.reshape(dy1 - dy0, dx1 - dx0, channels)
    if img.ndim == 2:
        out = out[..., 0]
    return out, affine


def box_centers_inside(boxes: np.ndarray, window: Window) -> np.ndarray:
    """Return a bool mask of the ``(N, 4)`` ``x1 y1 x2 y2`` boxes centred inside ``window``."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    x0, y0, x1, y1 = window
    return (cx >= x0) & (cx < x1) & (cy >= y0) & (cy < y1)


def boxes_inside(boxes: np.ndarray, window: Window) -> np.ndarray:
    """Return a bool mask of the ``(N, 4)`` ``x1 y1 x2 y2`` boxes wholly inside ``window``."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x0, y0, x1, y1 = window
    return (boxes[:, 0] >= x0) & (boxes[:, 1] >= y0) & (boxes[:, 2] <= x1) & \
        (boxes[:, 3] <= y1)


def map_boxes(boxes: np.ndarray, affine: Affine, out_size: Tuple[int, int]) -> np.ndarray:
    """Map ``(N, 4)`` ``x1 y1 x2 y2`` boxes with ``affine`` and clip them to ``out_size``."""
    ax, bx, ay, by = affine
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    mapped = np.empty_like(boxes)
    mapped[:, 0::2] = boxes[:, 0::2] * ax + bx
    mapped[:, 1::2] = boxes[:, 1::2] * ay + by
    mapped[:, 0::2] = mapped[:, 0::2].clip(0, out_size[0])
    mapped[:, 1::2] = mapped[:, 1::2].clip(0, out_size[1])
    return mapped.astype(np.float32)


def window_for_whole_image(img_w: int, img_h: int, out_size: Tuple[int, int]) -> Window:
    """The smallest window of the output's aspect, anchored at the top left, that holds the
    whole image (the rest is padding)."""
    aspect = out_size[1] / out_size[0]
    win_w = max(float(img_w), img_h / aspect)
    return (0.0, 0.0, win_w, win_w * aspect)


def sample_zoom_in_window(rng, img_w: int, img_h: int, boxes: np.ndarray,
                          valid: np.ndarray, out_size: Tuple[int, int], min_scale: float,
                          full_prob: float, max_trials: int) -> Window:
    """Sample S3FD's zoom-in window: a patch of the output's aspect, ``min_scale..1`` of the
    largest such patch, holding at least one valid face wholly (the release's rule).

    Args:
        rng: ``np.random`` or a ``np.random.RandomState`` (``uniform`` is used).
        img_w (int): Image width.
        img_h (int): Image height.
        boxes (np.ndarray): ``(N, 4)`` ``x1 y1 x2 y2`` boxes.
        valid (np.ndarray): ``(N, )`` bool, the faces that must be kept (not ignored).
        out_size (tuple[int, int]): ``(width, height)`` of the output.
        min_scale (float): Smallest patch side relative to the largest patch.
        full_prob (float): Probability of taking the largest patch.
        max_trials (int): Attempts before falling back to the whole image.

    Returns:
        tuple: The window ``(x0, y0, x1, y1)``.
    """
    aspect = out_size[1] / out_size[0]
    full_w = min(float(img_w), img_h / aspect)
    valid_boxes = np.asarray(boxes, np.float64).reshape(-1, 4)[np.asarray(valid, bool)]
    for _ in range(max_trials):
        scale = 1.0 if rng.uniform() < full_prob else rng.uniform(min_scale, 1.0)
        win_w = full_w * scale
        win_h = win_w * aspect
        x0 = rng.uniform(0, img_w - win_w)
        y0 = rng.uniform(0, img_h - win_h)
        window = (x0, y0, x0 + win_w, y0 + win_h)
        if len(valid_boxes) == 0 or boxes_inside(valid_boxes, window).any():
            return window
    return window_for_whole_image(img_w, img_h, out_size)


def sample_anchor_window(rng, img_w: int, img_h: int, boxes: np.ndarray, valid: np.ndarray,
                         out_size: Tuple[int, int], anchor_sizes: Sequence[float]) -> Window:
    """Sample a data-anchor-sampling window (PyramidBox): rescale so that a random face gets
    the size of a random anchor no larger than one step above its nearest anchor, times
    ``2 ** u`` with ``u`` uniform in [-1, 1] (the release's jitter), then take an
    ``out_size`` window holding that face (inside the image where possible).

    Args:
        rng: ``np.random`` or a ``np.random.RandomState`` (``uniform``, ``randint``).
        img_w (int): Image width.
        img_h (int): Image height.
        boxes (np.ndarray): ``(N, 4)`` ``x1 y1 x2 y2`` boxes.
        valid (np.ndarray): ``(N, )`` bool, the faces that may be chosen.
        out_size (tuple[int, int]): ``(width, height)`` of the output.
        anchor_sizes (Sequence[float]): The detector's anchor sizes, ascending.

    Returns:
        tuple: The window ``(x0, y0, x1, y1)``; the whole image if no face is valid.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    sizes = np.sqrt((boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0))
    candidates = np.flatnonzero(np.asarray(valid, bool) & (sizes > 0))
    if len(candidates) == 0:
        return window_for_whole_image(img_w, img_h, out_size)
    k = candidates[rng.randint(len(candidates))]
    fx0, fy0, fx1, fy1 = boxes[k]
    anchors = np.asarray(anchor_sizes, np.float64)
    nearest = int(np.argmin(np.abs(anchors - sizes[k])))
    target = anchors[rng.randint(min(len(anchors) - 1, nearest + 1) + 1)]
    scale = target * 2.0 ** rng.uniform(-1.0, 1.0) / sizes[k]
    win_w, win_h = out_size[0] / scale, out_size[1] / scale

    def place(f0: float, f1: float, win: float, limit: float) -> float:
        # Window starts that contain the whole face (or that the face contains).
        lo, hi = min(f1 - win, f0), max(f1 - win, f0)
        inside_lo, inside_hi = max(lo, 0.0), min(hi, limit - win)
        if inside_lo <= inside_hi:  # stay inside the image when possible
            lo, hi = inside_lo, inside_hi
        return rng.uniform(lo, hi) if hi > lo else lo

    x0 = place(fx0, fx1, win_w, img_w)
    y0 = place(fy0, fy1, win_h, img_h)
    return (x0, y0, x0 + win_w, y0 + win_h)
