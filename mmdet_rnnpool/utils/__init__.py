from .compat import apply_compat_patches, apply_onnx_export_patches

__all__ = ['apply_compat_patches', 'apply_onnx_export_patches']
