"""Lesson 03 in JupyterLab in a real browser (headless Chromium through selenium).

JupyterLab runs on a free local port, with a token, in a temporary copy of the
notebooks folder; the test opens ``03_n_plus_one.ipynb``, runs every cell through the
menu (Run > Run All Cells), waits for the kernel to finish, and checks what a person
would see: no error output except in the cells tagged ``raises-exception``, the
per-cell query counter, the N+1 query log as an HTML table, the chart as an image.
Screenshots go to ``tests/browser/screenshots/`` (ignored by git).

Without Chromium and chromedriver the test skips, saying so; under ``CI=true`` it
fails instead (``.ci/run`` installs them).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "03_n_plus_one.ipynb"
SCREENSHOTS = Path(__file__).with_name("screenshots")
#: Seconds for JupyterLab to answer, and for all of lesson 03 to run.
START_TIMEOUT = 90
RUN_TIMEOUT = 240
#: The Run menu's "Run All Cells" item, by command id (JupyterLab 4, and older).
RUN_ALL = ("runmenu:run-all", "notebook:run-all-cells")
SAVE = ("docmanager:save",)


def _find(*names: str) -> str | None:
    return next((path for name in names if (path := shutil.which(name))), None)


@pytest.fixture(scope="module")
def browser_paths() -> tuple[str, str]:
    chromium = _find("chromium", "chromium-browser", "google-chrome")
    driver = _find("chromedriver")
    if chromium is None or driver is None:
        missing = " and ".join(
            name for name, path in (("chromium", chromium), ("chromedriver", driver)) if not path
        )
        problem = (
            f"{missing} not found on PATH; install Debian's chromium and chromium-driver "
            "(`apt-get install -y chromium chromium-driver`) to run the browser check"
        )
        if IN_CI:
            pytest.fail(f"{problem} (CI=true: the browser check must run, not skip)")
        pytest.skip(problem)
    return chromium, driver


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_server(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"JupyterLab exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)  # polling a server that is starting, not synchronising the test
    pytest.fail(f"JupyterLab did not answer within {START_TIMEOUT} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def lab(
    tmp_path_factory: pytest.TempPathFactory, browser_paths: tuple[str, str]
) -> Iterator[tuple[str, Path]]:
    """Lesson 03 in a JupyterLab of its own: its URL, and the notebook file the server
    saves to. The server stops afterwards."""
    work = tmp_path_factory.mktemp("lab")
    shutil.copytree(
        ROOT / "notebooks", work / "notebooks", ignore=shutil.ignore_patterns("toolkit.db*")
    )
    # Without the committed outputs: everything the test sees comes from this run.
    lesson = work / "notebooks" / NOTEBOOK
    content = json.loads(lesson.read_text(encoding="utf-8"))
    for cell in content["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    lesson.write_text(json.dumps(content, indent=1), encoding="utf-8")
    settings = work / "settings" / "@jupyterlab"
    for extension, values in (
        # Every cell in the page, so that the checks below see the cells out of view too.
        ("notebook-extension/tracker", {"windowingMode": "none"}),
        ("apputils-extension/notification", {"fetchNews": "false"}),
    ):
        path = settings / f"{extension}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")
    # A first plot on a machine without matplotlib's font cache would print to stderr.
    import matplotlib.font_manager

    matplotlib.font_manager.findfont("DejaVu Sans")
    env = {k: v for k, v in os.environ.items() if k != "TOOLKIT_DATABASE_URL"}
    env.update(
        JUPYTERLAB_SETTINGS_DIR=str(work / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(work / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(work / "runtime"),
    )
    port, token = _free_port(), secrets.token_hex(16)
    log = work / "lab.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "jupyterlab", "--no-browser",
                f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
                "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={work}", "--LabApp.news_url=",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                # No package index lookups from the extension manager.
                "--LabApp.extension_manager=readonly",
                # CI runs as root in a throwaway container.
                *(["--allow-root"] if os.geteuid() == 0 else []),
            ],
            cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for_server(f"{base}/api/status?token={token}", process, log)
        yield (
            f"{base}/lab/tree/notebooks/{NOTEBOOK}?reset&token={token}",
            work / "notebooks" / NOTEBOOK,
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def driver(browser_paths: tuple[str, str]) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = browser_paths
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
    ):
        options.add_argument(argument)
    browser = webdriver.Chrome(service=Service(chromedriver), options=options)
    browser.set_page_load_timeout(120)
    try:
        yield browser
    finally:
        browser.quit()


def _code_cells() -> list[dict[str, object]]:
    cells = json.loads((ROOT / "notebooks" / NOTEBOOK).read_text(encoding="utf-8"))["cells"]
    return [cell for cell in cells if cell["cell_type"] == "code"]


# Reads every code cell of the notebook in the page: prompt, tags come from the file.
_CELLS_JS = """
return Array.from(document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-CodeCell'))
  .map(cell => ({
    prompt: (cell.querySelector('.jp-InputArea-prompt') || {}).textContent || '',
    stderr: cell.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]').length,
    text: (cell.querySelector('.jp-Cell-outputWrapper') || {}).innerText || '',
    tables: cell.querySelectorAll('.jp-RenderedHTMLCommon table').length,
    images: Array.from(cell.querySelectorAll('.jp-RenderedImage img'))
      .filter(img => img.complete && img.naturalWidth > 0).length,
  }));
"""


def _screenshot(browser: object, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / name
    browser.save_screenshot(str(path))  # type: ignore[attr-defined]
    return path


def _saved_outputs(path: Path, mtime: float) -> list[list[dict[str, object]]] | None:
    """The outputs of every code cell once the server has saved the run notebook."""
    if not path.exists() or path.stat().st_mtime <= mtime:
        return None
    try:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    except ValueError:  # caught halfway through a write
        return None
    code = [cell for cell in cells if cell["cell_type"] == "code"]
    if any(cell["execution_count"] is None for cell in code):
        return None
    # A fresh kernel ran every cell once, in order.
    assert [cell["execution_count"] for cell in code] == list(range(1, len(code) + 1))
    return [cell["outputs"] for cell in code]


def _click_menu(wait: object, menu: str, commands: tuple[str, ...]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    item = f"//li[contains(@class,'lm-MenuBar-item')][.//div[text()='{menu}']]"
    wait.until(ec.element_to_be_clickable((By.XPATH, item))).click()  # type: ignore[attr-defined]
    entry = ", ".join(f"li.lm-Menu-item[data-command='{c}']" for c in commands)
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, entry))).click()  # type: ignore[attr-defined]


def test_lesson_03_runs_in_jupyterlab(lab: tuple[str, Path], driver: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser: object = driver
    wait = WebDriverWait(browser, 120, poll_frequency=0.5)  # type: ignore[arg-type]
    url, saved = lab
    browser.get(url)  # type: ignore[attr-defined]
    code_cells = _code_cells()

    # The notebook is open and its kernel is ready.
    wait.until(lambda b: len(b.execute_script(_CELLS_JS)) == len(code_cells))
    wait.until(
        ec.presence_of_element_located(
            (
                By.CSS_SELECTOR,
                ".jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status='idle']",
            )
        )
    )

    # Run > Run All Cells, as a person would.
    _click_menu(wait, "Run", RUN_ALL)

    def finished(b: object) -> list[dict[str, object]] | None:
        cells = b.execute_script(_CELLS_JS)  # type: ignore[attr-defined]
        prompts = [str(cell["prompt"]) for cell in cells]
        done = all(re.fullmatch(r"\[\d+\]:", p.strip()) for p in prompts)
        return cells if done else None

    try:
        cells = WebDriverWait(browser, RUN_TIMEOUT, poll_frequency=1).until(finished)  # type: ignore[arg-type]
    except Exception:
        _screenshot(browser, "lesson-03-timeout.png")
        raise
    _screenshot(browser, "lesson-03-end.png")

    # What the kernel sent, as the browser holds it: File > Save, then read the file.
    before = saved.stat().st_mtime
    _click_menu(wait, "File", SAVE)
    outputs = WebDriverWait(browser, 60, poll_frequency=0.5).until(  # type: ignore[arg-type]
        lambda _: _saved_outputs(saved, before)
    )
    tagged = {
        i
        for i, cell in enumerate(code_cells)
        if "raises-exception" in cell["metadata"].get("tags", [])  # type: ignore[union-attr]
    }
    failed = {i for i, cell in enumerate(outputs) if any(o["output_type"] == "error" for o in cell)}
    unexpected = {i: cells[i]["text"][:500] for i in failed - tagged}
    assert not unexpected, f"error output in cells not tagged raises-exception: {unexpected}"
    assert tagged <= failed, "a cell tagged raises-exception showed no error: did it run?"
    # ...and the page shows those errors.
    assert all(cells[i]["stderr"] for i in tagged)

    # Found by what they show, so that edits to the lesson's cells do not break the test.
    sources = ["".join(cell["source"]) for cell in code_cells]  # type: ignore[arg-type]
    loaded = next((i for i, s in enumerate(sources) if "%load_ext toolkit" in s), 0)
    counters = [
        i for i, cell in enumerate(cells)
        if i > loaded and re.search(r"toolkit: \d+ SQL statements? in", str(cell["text"]))
    ]  # fmt: skip
    assert counters, "no per-cell query counter shown after %load_ext toolkit"
    logs = [i for i, cell in enumerate(cells) if cell["tables"] and "N+1" in str(cell["text"])]
    assert logs, "no query log with an N+1 group rendered as an HTML table"
    charts = [i for i, cell in enumerate(cells) if cell["images"]]
    assert charts, "no chart rendered as an image"
    n_plus_one_log, chart = logs[0], charts[0]

    # A screenshot of each thing checked, scrolled into view.
    for name, index in (("query-log", n_plus_one_log), ("chart", chart), ("counter", counters[0])):
        element = browser.find_elements(  # type: ignore[attr-defined]
            By.CSS_SELECTOR, ".jp-NotebookPanel .jp-Notebook .jp-CodeCell"
        )[index]
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)  # type: ignore[attr-defined]
        _screenshot(browser, f"lesson-03-{name}.png")
