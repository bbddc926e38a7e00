from .compat import apply_compat_patches, apply_onnx_export_patches
from .tta import apply_tta

__all__ = ['apply_compat_patches', 'apply_onnx_export_patches', 'apply_tta']
