"""The project's research code (benchmarks, studies, figures), kept out of the allidb_mmseg wheel.

`make install` installs it in editable mode beside the package, so that
``tools/analysis_tools/*.py`` can import it; a user's ``pip install .`` of the
repository root never does.
"""
from setuptools import setup

setup(name='allidb_mmseg_benchmarks', version='0.1.0',
      description='Benchmarks and studies of allidb_mmseg (not part of its wheel)',
      packages=['benchmarks', 'benchmarks.speed'],
      package_dir={'benchmarks': '.'})
