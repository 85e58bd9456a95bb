"""`make demo`: the main job end to end on built-in synthetic data."""
import allidb_mmseg
from allidb_mmseg import compat

print(f'allidb_mmseg {allidb_mmseg.__version__}: stack imports, '
      f'mmcv._ext stub installed: {compat.ext_stub_installed()}')
