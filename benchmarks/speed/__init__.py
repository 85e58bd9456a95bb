"""Speed ratios measured in one run: (a) inference, (b) training, (c) data pipeline."""
from benchmarks.speed.run import SPLITS, choose_split, markdown_table, run_benchmark

__all__ = ['SPLITS', 'choose_split', 'markdown_table', 'run_benchmark']
