"""Measurements over whole runs: the speed benchmark and the paper's Table II."""
from .. import compat  # noqa: F401,I001  (before mmseg is imported)
