"""tools/demo.py prints each step's wall time and the total, also when a step fails."""
from __future__ import annotations

import re

import pytest

from helpers import load_tool


def test_steps_are_timed_and_totalled(capsys):
    demo = load_tool('demo')
    demo.TIMES.clear()
    demo.step('1/2 first', ['-c', 'import time; time.sleep(0.2)'])
    demo.step('2/2 second', ['-c', 'pass'])
    assert [t for t, _ in demo.TIMES] == ['1/2 first', '2/2 second']
    assert demo.TIMES[0][1] >= 0.2
    demo.print_times(12.5)
    out = capsys.readouterr().out
    assert '$ python -c' in out  # the command is still shown
    table = out[out.index('== time per step'):].splitlines()
    assert re.fullmatch(r' +\d+\.\d s  1/2 first', table[1])
    assert re.fullmatch(r' +\d+\.\d s  2/2 second', table[2])
    assert table[3] == '    12.5 s  total'


def test_a_failed_step_still_prints_the_times(capsys):
    demo = load_tool('demo')
    demo.TIMES.clear()
    demo.step('1/2 fine', ['-c', 'pass'])
    with pytest.raises(SystemExit, match='demo step "2/2 broken" failed'):
        demo.step('2/2 broken', ['-c', 'raise SystemExit(3)'])
    out = capsys.readouterr().out
    assert '2/2 broken (failed)' in out and out.rstrip().endswith('s  total')
