"""What `pip install .` puts into a user's environment: the package, not the research code."""
import subprocess
import sys
import zipfile
from pathlib import Path

from helpers import REPO


def test_the_wheel_holds_the_package_and_no_research_code(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps',
         '--no-build-isolation', '-w', str(tmp_path), str(REPO)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob('allidb_mmseg-*.whl')
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split('/')[0] for n in names}
    assert tops == {'allidb_mmseg', wheel.name.split('-py3')[0] + '.dist-info'}, tops
    assert not [n for n in names if '/analysis/' in n or 'benchmark' in n]
    for module in ('allidb_mmseg/apis/__init__.py', 'allidb_mmseg/io/image_io.py',
                   'allidb_mmseg/products/review_page.html'):
        assert module in names
    # Every source file of the package is shipped, and nothing from tools/ or tests/.
    package = {str(p.relative_to(REPO)) for p in (REPO / 'allidb_mmseg').rglob('*.py')}
    assert package <= set(names), sorted(package - set(names))
