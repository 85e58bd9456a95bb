"""allidb_mmseg: SegFormer segmentation of ALL lymphoblasts on MMSegmentation.

Importing the package imports nothing heavy: the converters, the synthetic smears and the
report code start fast and need no torch. Every config of this project registers the parts
mmseg's registries must know by importing :data:`REGISTERING_MODULES`::

    custom_imports = dict(imports=[...REGISTERING_MODULES...],
                          allow_failed_imports=False)

Each of those modules first applies :mod:`allidb_mmseg.compat` (the
workarounds for the pinned stack), so it must be imported before mmseg's
models are; ``import allidb_mmseg.compat`` alone does just that.
"""
import importlib

__version__ = '0.1.0'

# Import these and mmseg knows ALLIDBDataset, our transforms, the fused MiT,
# the hooks, the CPU-capable DDP wrapper and PerClassIoUMetric.
REGISTERING_MODULES = ('allidb_mmseg.datasets', 'allidb_mmseg.models',
                       'allidb_mmseg.engine', 'allidb_mmseg.evaluation.metrics')


def register_all_modules() -> None:
    """Register every part of this package in mmseg's registries."""
    for name in REGISTERING_MODULES:
        importlib.import_module(name)
