"""Dense heads."""
from .s3fd_head import S3FDHead, max_out_background

__all__ = ['S3FDHead', 'max_out_background']
