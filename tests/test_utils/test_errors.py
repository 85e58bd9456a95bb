"""One error type, printed the same way by every tool."""
from __future__ import annotations

from allidb_mmseg.apis import ImageReadError
from allidb_mmseg.converters import ConversionError, XycError
from allidb_mmseg.models.mit_weights import WeightsError
from allidb_mmseg.utils import AllidbError, tool_main


def test_every_error_of_the_package_is_an_allidb_error():
    for cls in (ImageReadError, ConversionError, XycError, WeightsError):
        assert issubclass(cls, AllidbError)


def test_message_with_and_without_a_file():
    assert str(AllidbError('a.json', 'exists')) == 'a.json: exists'
    e = AllidbError('line 3: not a number')
    assert str(e) == 'line 3: not a number' and e.path is None
    e.path = 'c.xyc'  # named later by a caller that knows the file
    assert str(e) == 'c.xyc: line 3: not a number'


def test_tool_main_prints_one_line_and_returns_2(capsys):
    @tool_main
    def main(argv=None):
        if argv:
            raise WeightsError('does not hold a state dict', path=argv[0])
        return None

    assert main([]) == 0
    assert main(['w.bin']) == 2
    err = capsys.readouterr().err
    assert err == 'error: w.bin: does not hold a state dict\n'
