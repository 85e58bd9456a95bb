"""allidb_mmseg: SegFormer segmentation of ALL lymphoblasts on MMSegmentation.

Importing this package registers its dataset, transforms and model parts in
mmseg's registries, so a config needs only::

    custom_imports = dict(imports=['allidb_mmseg'], allow_failed_imports=False)
"""
from . import compat  # noqa: F401  (must run before mmseg is imported)
from . import datasets, engine, models, transforms  # noqa: F401,E402

__version__ = '0.1.0'
