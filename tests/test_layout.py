"""The package's floors, checked from its source alone (no module is imported).

Folders of ``allidb_mmseg``, lowest floor first (:data:`FLOORS`); a module may
import only from its own floor or a lower one:

0 utils and the package root (``__init__.py``, ``compat.py``) · 1 io, smear ·
2 converters · 3 synthetic, evaluation, datasets, models · 4 inference ·
5 deployment · 6 products · 7 apis, engine (never each other) · 8 cli.

The checks, each failing with the offending ``file:line``:

(a) no import of a higher floor (nor between apis and engine);
(b) no import circle between folders, same floor included;
(c) no import circle between the modules of one folder;
(d) an import of the package's own modules inside a function needs the marker
    ``# lazy: <dependency>`` (torch, mmseg, mmengine or onnxruntime) on its
    line or the line above: it keeps that dependency out of a path that must
    import without it. Any other such import belongs at the top of the module;
(e) no module imports ``benchmarks`` (research code, not in the wheel).

Every folder must have a floor, so a new folder is placed on purpose.
"""
from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

PACKAGE = 'allidb_mmseg'
ROOT = Path(__file__).resolve().parents[1] / PACKAGE
TOP = '<root>'  # the package's own __init__.py and compat.py

FLOORS = {TOP: 0, 'utils': 0, 'io': 1, 'smear': 1, 'converters': 2,
          'synthetic': 3, 'evaluation': 3, 'datasets': 3, 'models': 3,
          'inference': 4, 'deployment': 5, 'products': 6, 'apis': 7,
          'engine': 7, 'cli': 8}
APART = {frozenset(('apis', 'engine'))}  # same floor, never importing each other
LAZY_MARKER = re.compile(r'#\s*lazy:\s*(torch|mmseg|mmengine|onnxruntime)\b')


@dataclass(frozen=True)
class Edge:
    """One import statement of the package's own code."""

    source: str  # importing module, dotted
    target: str  # imported module (or package), dotted
    where: str  # file:line
    in_function: bool
    marked: bool  # carries the lazy marker

    def __str__(self) -> str:
        return f'{self.where}: {self.source} imports {self.target}'


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _imported(node: ast.AST, module: str, is_init: bool,
              modules: set[str]) -> list[str]:
    """The dotted modules an import statement names (relative ones resolved)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        base = module.split('.')
        base = base[:len(base) - node.level + (1 if is_init else 0)]
        name = '.'.join(base + ([node.module] if node.module else []))
    else:
        name = node.module or ''
    subs = [f'{name}.{a.name}' for a in node.names if f'{name}.{a.name}' in modules]
    return subs if len(subs) == len(node.names) else [name] + subs


def _function_imports(tree: ast.AST) -> set[int]:
    """ids of the import nodes inside a function or method."""
    inner: set[int] = set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            inner.update(id(n) for n in ast.walk(fn)
                         if isinstance(n, (ast.Import, ast.ImportFrom)))
    return inner


@dataclass
class Scan:
    """What :func:`scan` found in a package."""

    edges: list[Edge]  # imports of the package's own modules
    research: list[str]  # file:line of every import of benchmarks
    folders: set[str]  # sub-packages of the root

    def folder(self, module: str) -> str:
        """'allidb_mmseg.io.slides' -> 'io'; the root and compat -> TOP."""
        parts = module.split('.')
        return parts[1] if len(parts) > 1 and parts[1] in self.folders else TOP


def scan(root: Path) -> Scan:
    """Every import statement in the package under ``root``."""
    files = sorted(root.rglob('*.py'))
    modules = {module_name(f, root) for f in files}
    edges, research = [], []
    for f in files:
        module = module_name(f, root)
        text = f.read_text(encoding='utf-8')
        lines = text.splitlines()
        tree = ast.parse(text, str(f))
        inner = _function_imports(tree)
        for node in ast.walk(tree):
            for target in _imported(node, module, f.name == '__init__.py', modules):
                where = f'{f.relative_to(root.parent)}:{node.lineno}'
                if target.split('.')[0] == 'benchmarks':
                    research.append(where)
                if target.split('.')[0] != root.name:
                    continue
                near = ' '.join(lines[max(node.lineno - 2, 0):node.lineno])
                edges.append(Edge(module, target, where, id(node) in inner,
                                  bool(LAZY_MARKER.search(near))))
    folders = {p.name for p in root.iterdir() if (p / '__init__.py').is_file()}
    return Scan(sorted(edges, key=_by_place), sorted(research, key=_by_place), folders)


def _by_place(item: Edge | str) -> tuple[str, int]:
    path, line = str(item if isinstance(item, str) else item.where).rsplit(':', 1)
    return path, int(line)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with a circle (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                part.append(w)
                if w == v:
                    break
            if len(part) > 1 or v in graph.get(v, ()):
                found.append(sorted(part))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def circle_report(edges: list[Edge], key: Callable[[str], Optional[str]]
                  ) -> list[str]:
    """A line per circle of ``key(module)`` nodes, then one per import in it."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        a, b = key(e.source), key(e.target)
        if a is not None and b is not None and a != b:
            graph.setdefault(a, set()).add(b)
    out = []
    for part in cycles(graph):
        members = set(part)
        out.append('circle ' + ' <-> '.join(part) + ':')
        out += [f'  {e}' for e in edges
                if key(e.source) in members and key(e.target) in members
                and key(e.source) != key(e.target)]
    return out


def floor_violations(found: Scan) -> list[str]:
    out = []
    for e in found.edges:
        a, b = found.folder(e.source), found.folder(e.target)
        if a in FLOORS and b in FLOORS and FLOORS[b] > FLOORS[a]:
            out.append(f'{e} (floor {FLOORS[b]} {b} is above floor {FLOORS[a]} {a})')
        elif frozenset((a, b)) in APART:
            out.append(f'{e} ({a} and {b} must not import each other)')
    return out


def folder_circles(found: Scan) -> list[str]:
    return circle_report(found.edges, found.folder)


def module_circles(found: Scan) -> list[str]:
    out = []
    for name in sorted({found.folder(e.source) for e in found.edges}):
        out += circle_report(found.edges, lambda m, name=name: (
            m if found.folder(m) == name else None))
    return out


def unmarked_lazy_imports(found: Scan) -> list[str]:
    return [f'{e}, inside a function without "# lazy: torch" (or mmseg, '
            'mmengine, onnxruntime)' for e in found.edges
            if e.in_function and not e.marked]


@functools.lru_cache(maxsize=None)
def _package() -> Scan:
    return scan(ROOT)


def _fail(problems: list[str], what: str) -> None:
    assert not problems, f'{what}:\n' + '\n'.join(problems)


def test_every_folder_has_a_floor():
    _fail(sorted(_package().folders - set(FLOORS)), 'folders without a floor in FLOORS')


def test_no_import_from_a_higher_floor():
    _fail(floor_violations(_package()), 'imports from a higher floor')


def test_no_import_circle_between_folders():
    _fail(folder_circles(_package()), 'import circles between folders')


def test_no_import_circle_inside_a_folder():
    _fail(module_circles(_package()), 'import circles inside a folder')


def test_function_level_imports_of_the_package_say_why():
    _fail(unmarked_lazy_imports(_package()), 'unmarked function-level imports')


def test_no_module_imports_the_research_code():
    _fail(_package().research, 'imports of benchmarks')


def test_the_checks_find_what_they_look_for(tmp_path):
    pkg = tmp_path / PACKAGE
    files = {
        '__init__.py': '', 'compat.py': '',
        'utils/__init__.py': 'from .. import compat\nfrom ..io import reader\n',
        'io/__init__.py': '', 'io/reader.py': 'from ..utils import x\n',
        'evaluation/__init__.py': '',
        'evaluation/one.py': 'from .two import f\nimport benchmarks.speed\n',
        'evaluation/two.py': ('def f():\n    from .one import g\n'
                              'def h():\n    # lazy: torch\n'
                              '    from ..utils import m\n'),
    }
    for name, text in files.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    found = scan(pkg)
    assert found.folder(f'{PACKAGE}.compat') == TOP
    assert floor_violations(found) == [
        f'{PACKAGE}/utils/__init__.py:2: {PACKAGE}.utils imports '
        f'{PACKAGE}.io.reader (floor 1 io is above floor 0 utils)']
    assert folder_circles(found)[0] == 'circle io <-> utils:'
    assert module_circles(found)[0] == (
        f'circle {PACKAGE}.evaluation.one <-> {PACKAGE}.evaluation.two:')
    lazy = unmarked_lazy_imports(found)
    assert len(lazy) == 1 and lazy[0].startswith(f'{PACKAGE}/evaluation/two.py:2:')
    assert found.research == [f'{PACKAGE}/evaluation/one.py:2']
