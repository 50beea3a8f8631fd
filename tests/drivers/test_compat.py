"""Each private API in toolkit.drivers.compat still exists and does what we rely on."""

from __future__ import annotations

import pytest

from toolkit.drivers import compat


def test_show_ipython_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    interactiveshell = pytest.importorskip("IPython.core.interactiveshell")
    shell = interactiveshell.InteractiveShell.instance()
    error = ValueError("boom")
    compat.show_ipython_traceback(shell, ValueError, error, ["line one", "line two"])
    out = capsys.readouterr()
    assert "line one\nline two" in out.out + out.err
