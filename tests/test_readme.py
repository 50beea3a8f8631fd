"""README.md runs as written: every ```python block, top to bottom, in one IPython kernel.

The blocks are the cells of a notebook executed by nbclient in a fresh temporary folder,
on the embedded default (``TOOLKIT_DATABASE_URL`` unset), as a new user would paste them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(markdown: str) -> list[str]:
    """The code of every ```python fenced block, in order."""
    return [match.group(1).rstrip("\n") for match in _BLOCK.finditer(markdown)]


def test_blocks_are_found() -> None:
    blocks = python_blocks("text\n```python\na = 1\n```\n```bash\nls\n```\n```python\nb\n```\n")
    assert blocks == ["a = 1", "b"]


def test_readme_runs_top_to_bottom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 2, "README.md has no ```python blocks to check"
    # The kernel inherits this process's environment: a fresh user's, on the default.
    monkeypatch.delenv("TOOLKIT_DATABASE_URL", raising=False)
    monkeypatch.setenv("TOOLKIT_PROGRESS", "off")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code) for code in blocks]
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:
        pytest.fail(f"A README block fails as written:\n{exc}")
    for number, cell in enumerate(nb.cells, start=1):
        for output in cell.outputs:
            assert output["output_type"] != "error", f"block {number} failed"
            if output["output_type"] == "stream":
                assert output["name"] != "stderr", f"block {number} wrote to stderr: {output}"
