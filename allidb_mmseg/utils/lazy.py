"""Package attributes imported on first use (PEP 562), so a light package can
name the parts of it that need heavy dependencies."""
from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping

__all__ = ['lazy_attributes']


def lazy_attributes(package: str, table: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` (its ``__name__``); ``table`` maps an
    attribute name to the submodule (relative, without the dot) that defines it, imported
    when the attribute is first asked for."""
    def __getattr__(name: str) -> Any:
        if name in table:
            return getattr(importlib.import_module(f'.{table[name]}', package), name)
        raise AttributeError(f'module {package!r} has no attribute {name!r}')

    return __getattr__
