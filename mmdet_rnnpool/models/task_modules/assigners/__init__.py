"""Anchor assigners."""
from .s3fd_assigner import S3FDAssigner

__all__ = ['S3FDAssigner']
