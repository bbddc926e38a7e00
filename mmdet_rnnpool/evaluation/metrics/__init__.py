from .wider_face_metric import WIDERFaceMetric

__all__ = ['WIDERFaceMetric']
