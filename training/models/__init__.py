from .collection import CollectionSettings
from .examples import TrainingExample

__all__ = ["CollectionSettings", "TrainingExample"]
