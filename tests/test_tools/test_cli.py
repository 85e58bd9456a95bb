"""The tools as a user meets them: every README command, --help, no sys.path edits."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest

from helpers import REPO, load_tool, run_tool

PY_TOOLS = sorted(p.relative_to(REPO / 'tools').with_suffix('').as_posix()
                  for p in (REPO / 'tools').rglob('*.py'))
SH_TOOLS = sorted(p.name for p in (REPO / 'tools').glob('*.sh'))


def readme_tool_calls() -> list[list[str]]:
    """Every ``tools/...`` invocation in the README's code blocks, as argv."""
    text = (REPO / 'README.md').read_text()
    calls = []
    blocks = re.findall(r'^```(\w*)\n(.*?)^```', text, re.S | re.M)
    for lang, block in blocks:
        if lang not in ('', 'bash', 'sh', 'shell', 'console'):
            continue
        for line in block.replace('\\\n', ' ').splitlines():
            line = line.split('#', 1)[0].strip()
            if 'tools/' not in line:
                continue
            words = shlex.split(line)
            at = [i for i, w in enumerate(words)
                  if re.fullmatch(r'(\./)?tools/\S+\.(py|sh)', w)]
            if at:
                calls.append([words[at[0]].removeprefix('./'),
                              *words[at[0] + 1:]])
    return calls


def test_the_tools_are_grouped_as_mmseg_groups_them():
    top = {p.name for p in (REPO / 'tools').iterdir()}
    assert {'train.py', 'test.py', 'infer.py', 'dist_train.sh',
            'dist_test.sh'} <= top
    assert {'dataset_converters', 'model_converters', 'analysis_tools'} <= top
    for name in PY_TOOLS:
        text = (REPO / 'tools' / f'{name}.py').read_text()
        assert 'sys.path' not in text, name  # they run from the installed package


def test_every_readme_command_runs_its_help(capsys):
    """Each tool the README shows exists where it says, and answers --help."""
    calls = readme_tool_calls()
    assert len(calls) >= 8, calls
    names = set()
    for argv in calls:
        assert (REPO / argv[0]).is_file(), argv
        names.add(argv[0])
    for required in ('tools/train.py', 'tools/test.py', 'tools/infer.py',
                     'tools/dist_train.sh'):
        assert required in names
    for name in sorted(n for n in names if n.endswith('.py')):
        with pytest.raises(SystemExit) as e:
            load_tool(name[len('tools/'):-len('.py')]).main(['--help'])
        assert e.value.code == 0, name
        assert 'usage:' in capsys.readouterr().out, name


@pytest.mark.parametrize('doc', ['docs/reliability.md'])
def test_every_test_a_document_names_exists(doc):
    """The reliability table names real tests (a renamed test fails here).

    The README links to the table instead of repeating it."""
    text = (REPO / doc).read_text()
    named = re.findall(r'(test_\w+/test_\w+\.py)::(test_\w+)', text)
    assert len(named) >= 10, doc
    for path, func in named:
        source = REPO / 'tests' / path
        assert source.is_file(), (doc, path)
        assert re.search(rf'^def {func}\(', source.read_text(), re.M), (doc, path, func)


class Parsed(BaseException):
    """Raised in place of running a tool once its arguments parsed."""


def test_every_readme_command_parses(monkeypatch):
    """The README's options exist and take the values shown (a renamed or
    removed option fails here), without running anything."""
    import argparse

    for method in ('parse_args', 'parse_intermixed_args'):
        plain = getattr(argparse.ArgumentParser, method)

        def parse_then_stop(self, args=None, namespace=None, plain=plain):
            raise Parsed(plain(self, args, namespace))

        monkeypatch.setattr(argparse.ArgumentParser, method, parse_then_stop)
    for argv in readme_tool_calls():
        if not argv[0].endswith('.py'):
            continue
        name = argv[0][len('tools/'):-len('.py')]
        try:
            load_tool(name).main(argv[1:])
        except Parsed:
            continue
        except SystemExit as e:
            pytest.fail(f'{" ".join(argv)}: arguments rejected (exit {e.code})')
        pytest.fail(f'{" ".join(argv)}: never parsed its arguments')


@pytest.mark.parametrize('name', PY_TOOLS)
def test_help_of_every_python_tool(name, capsys):
    with pytest.raises(SystemExit) as e:
        load_tool(name).main(['--help'])
    assert e.value.code == 0
    assert 'usage:' in capsys.readouterr().out


@pytest.mark.parametrize('name', SH_TOOLS)
def test_launchers_without_arguments_print_their_usage(name):
    r = subprocess.run(['bash', str(REPO / 'tools' / name)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.startswith('usage:'), r.stderr


def test_help_as_a_user_types_it():
    r = run_tool('dataset_converters/make_synthetic', '--help', timeout=120)
    assert r.returncode == 0 and r.stdout.startswith('usage:'), r.stderr


def test_outside_the_venv_a_tool_fails_as_mmsegs_own_tools_do():
    """The interpreter the venv was made from has not got the package (as when
    a user forgets to activate .venv): Python's own ImportError, naming it."""
    if sys.prefix == sys.base_prefix:
        pytest.skip('not running inside a virtual environment')
    base = os.path.join(sys.base_prefix, 'bin',
                        f'python{sys.version_info[0]}.{sys.version_info[1]}')
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    probe = subprocess.run([base, '-c', 'import allidb_mmseg'], env=env,
                           cwd='/', capture_output=True, timeout=60)
    if probe.returncode == 0:
        pytest.skip(f'{base} has allidb_mmseg installed')
    r = subprocess.run([base, 'tools/train.py', '--help'], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == \
        "ModuleNotFoundError: No module named 'allidb_mmseg'", r.stderr
