"""Fixes for MMPretrain 1.2.0's breakages on this stack (torch 2.14.1, mmcv 2.1, NumPy < 2).

Applied by :func:`apply_cls_compat_patches` when :mod:`mmdet_rnnpool.cls` is imported (never by
``import mmdet_rnnpool``: the detection half does not need MMPretrain); idempotent; no file in
site-packages is touched; each fix has a test in ``tests/test_utils/test_cls_compat.py`` that
fails without it.
"""

_applied = False


def apply_cls_compat_patches() -> None:
    """Apply every MMPretrain fix once (safe to call repeatedly)."""
    global _applied
    if _applied:
        return
    import mmpretrain  # noqa: F401  (fails here, with MMPretrain's own message, if absent)
    _applied = True
