"""Measurements over whole runs: the speed benchmark, the paper's Table II,
the native-scale accuracy comparison, the red-cell size estimate's accuracy
and validation curves."""
from allidb_mmseg import compat  # noqa: F401,I001  (before mmseg is imported)
