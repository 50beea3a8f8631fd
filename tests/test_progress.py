"""Progress bars: one style (rows, SI prefixes), shown only when someone watches."""

from __future__ import annotations

import warnings

import pytest

from toolkit import progress
from toolkit.progress import progress_bar, someone_watching


def test_silent_under_ci_and_when_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOOLKIT_PROGRESS", raising=False)
    monkeypatch.setenv("CI", "true")
    assert not someone_watching()
    monkeypatch.delenv("CI")
    monkeypatch.setenv("TOOLKIT_PROGRESS", "off")
    assert not someone_watching()
    monkeypatch.setenv("TOOLKIT_PROGRESS", "on")
    monkeypatch.setenv("CI", "true")
    assert someone_watching()


def test_automatic_bar_needs_enough_rows(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TOOLKIT_PROGRESS", "on")
    small = progress_bar(10, desc="x", min_rows=100)
    small.update(10)
    small.close()
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("TOOLKIT_PROGRESS", "off")
    big = progress_bar(1_000, desc="x", min_rows=100)
    big.close()
    assert capsys.readouterr().err == ""


def test_text_bar_counts_rows_with_si_prefixes(capsys: pytest.CaptureFixture[str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no TqdmWarning on the text path
        bar = progress_bar(300_000, desc="stream comments", show=True)
        bar.update(50_000)
        bar.close()
    err = capsys.readouterr().err
    assert "stream comments" in err
    assert "50.0k/300k" in err
    assert "rows/s" in err


def test_widget_bar_in_a_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ipywidgets")
    monkeypatch.setattr(progress, "_in_kernel", lambda: True)
    displayed: list[object] = []
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: displayed.extend(a))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bar = progress_bar(1_000, desc="insert User", show=True)
        bar.update(1_000)
        bar.close()
    from tqdm.notebook import tqdm_notebook

    assert isinstance(bar, tqdm_notebook)
    assert bar.unit == "rows"
    assert bar.unit_scale
