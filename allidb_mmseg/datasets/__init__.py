"""Dataset classes registered in mmseg.registry.DATASETS."""
from .allidb import ALLIDBDataset

__all__ = ['ALLIDBDataset']
