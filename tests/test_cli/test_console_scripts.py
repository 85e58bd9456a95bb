"""The allidb-* console scripts: declared in setup.py, installed, runnable from any folder;
one import guard for them all (allidb_mmseg.cli), none in tools/."""
from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO

BIN = Path(sys.executable).parent


def declared_scripts() -> dict[str, str]:
    """``{script: 'module:function'}`` as setup.py declares them (read, not run)."""
    tree = ast.parse((REPO / 'setup.py').read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                getattr(t, 'id', None) == 'CONSOLE_SCRIPTS' for t in node.targets):
            modules = ast.literal_eval(node.value)
            return {name: f'allidb_mmseg.cli.{module}:main' for name, module in modules.items()}
    raise AssertionError('setup.py has no CONSOLE_SCRIPTS')


SCRIPTS = declared_scripts()


def test_the_user_tools_are_console_scripts():
    assert {'allidb-train', 'allidb-test', 'allidb-infer', 'allidb-convert',
            'allidb-synthetic', 'allidb-xyc-to-coco', 'allidb-export',
            'allidb-mit-weights', 'allidb-eval-counts', 'allidb-fit-stain',
            'allidb-fit-smear-call'} <= set(SCRIPTS)


def test_the_readme_table_lists_every_console_script():
    text = (REPO / 'README.md').read_text()
    missing = [name for name in SCRIPTS if f'| `{name}` |' not in text]
    assert not missing, f'README.md "Console scripts" lacks {missing}'


@pytest.mark.parametrize('name', sorted(SCRIPTS))
def test_every_console_script_resolves_to_an_importable_main(name):
    module, func = SCRIPTS[name].split(':')
    main = getattr(importlib.import_module(module), func)
    assert callable(main)
    with pytest.raises(SystemExit) as e:
        main(['--help'])
    assert e.value.code == 0


def test_the_installed_scripts_are_setup_pys():
    """A stale install (setup.py edited, `make install` not rerun) fails here."""
    if not any(BIN.glob('allidb-*')):
        pytest.skip(f'no allidb-* script in {BIN} (run make install, or pip install -e .)')
    for name, target in SCRIPTS.items():
        module, func = target.split(':')
        script = BIN / name
        assert script.is_file(), f'{script} missing: rerun pip install -e .'
        assert f'from {module} import {func}' in script.read_text(), script


@pytest.mark.parametrize('name', ['allidb-infer', 'allidb-train', 'allidb-synthetic'])
def test_installed_scripts_run_from_any_folder(name, tmp_path):
    script = BIN / name
    if not script.is_file():
        pytest.skip(f'{script} is not installed (run make install, or pip install -e .)')
    r = subprocess.run([str(script), '--help'], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f'usage: {name} '), r.stdout


def test_a_script_makes_its_output_from_another_folder(tmp_path):
    script = BIN / 'allidb-synthetic'
    if not script.is_file():
        pytest.skip(f'{script} is not installed (run make install, or pip install -e .)')
    r = subprocess.run([str(script), 'smears', '--num-images', '2', '--size', '96', '72'],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / 'smears' / 'annotations' / 'instances_default.json').is_file()


BLOCK_MMENGINE = """
import sys
sys.modules['mmengine'] = None  # as in a light `pip install` without the [train] extra
sys.argv[0] = 'allidb-train'
from allidb_mmseg.cli.train import main
sys.exit(main(['config.py']))
"""


def test_a_missing_dependency_is_one_line_with_exit_code_2(tmp_path):
    r = subprocess.run([sys.executable, '-c', BLOCK_MMENGINE], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f'error: mmengine: not installed for {sys.executable}; ')
    assert 'allidb_mmseg[train]' in lines[0] and 'make install' in lines[0]


def test_a_bug_of_the_package_is_not_called_a_missing_dependency():
    from allidb_mmseg.cli import missing_dependency

    assert missing_dependency(ModuleNotFoundError('x', name='allidb_mmseg.nope')) is None
    line = missing_dependency(ModuleNotFoundError('x', name='onnxruntime'))
    assert 'allidb_mmseg[runtime]' in line
    assert 'make install' in missing_dependency(ModuleNotFoundError('x', name='benchmarks.speed'))


def test_no_tool_repeats_the_import_guard():
    """The guard lives once, in allidb_mmseg.cli.command; tools/ only import."""
    guarded = [str(p.relative_to(REPO)) for p in sorted((REPO / 'tools').rglob('*.py'))
               if 'except ImportError' in p.read_text()
               or 'except ModuleNotFoundError' in p.read_text()]
    assert not guarded, f'import guards in {guarded}: use allidb_mmseg.cli.command'
