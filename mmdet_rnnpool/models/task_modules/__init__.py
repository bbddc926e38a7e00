"""Task modules (assigners)."""
from .assigners import S3FDAssigner

__all__ = ['S3FDAssigner']
