"""`course lab` driven by a real browser: JupyterLab in Chromium through Playwright.

The test starts `course lab` headless on a free loopback port with a token, on a copy of
day 00 (so nothing it runs or autosaves touches the checkout), and as a learner would:
opens the lesson and runs its first code cells until their output shows; opens the
lesson's paired `.py` source as a notebook (Open With > Jupytext Notebook); opens the
exercise notebook and runs a check cell (it reports the unwritten function). Then it
shuts the server down through its API and checks that the server and every kernel it
started are gone. Every request the page makes must stay on the loopback server. On a
failure, the page as it was goes to _build/lab-failure.png.

Skips like tests/test_book_browser.py without Chromium or Playwright (unless
COURSE_REQUIRE_BROWSER=1, which CI sets).
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
from pathlib import Path

import nbformat
import psutil
import pytest
import requests

from course_lib.runtime import project_root
from tests.test_book_browser import _browser_or_skip, chromium_path

LESSON, EXERCISE = "notebooks/day00_setup.ipynb", "exercises/day00_setup.ipynb"
START_SECONDS, CELL_SECONDS = 90, 120
FAILURE_SHOT = project_root() / "_build" / "lab-failure.png"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """`course lab` on a copy of day 00 in tmp_path: yields (base URL, token, process)."""
    _browser_or_skip()
    root = project_root()
    work = tmp_path / "course"
    for rel in (LESSON, LESSON.replace(".ipynb", ".py"), "jupytext.toml", EXERCISE):
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / rel, work / rel)
    shutil.copytree(root / "notebooks" / "figures", work / "notebooks" / "figures")     # the lessons' figures
    _clear_outputs(work / LESSON)                      # so every output seen is this run's
    # every cell in the page (no virtual scrolling), so the test reads outputs off-screen too
    # and no "get Jupyter news?" pop-up (it would fetch from jupyter.org if accepted)
    settings = tmp_path / "config" / "lab" / "user-settings" / "@jupyterlab"
    for plugin, values in {"notebook-extension/tracker": {"windowingMode": "none"},
                           "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False}}.items():
        (settings / f"{plugin}.jupyterlab-settings").parent.mkdir(parents=True, exist_ok=True)
        (settings / f"{plugin}.jupyterlab-settings").write_text(json.dumps(values))
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "run"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"), "COURSE_ARTIFACTS": str(tmp_path / "artifacts")}
    command = [sys.executable, "-m", "course_lib.tools.cli", "lab", "--no-browser", f"--notebook-dir={work}",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={token}"]
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen(command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            assert proc.poll() is None, f"course lab exited: {(tmp_path / 'lab.log').read_text()[-2000:]}"
            try:
                if requests.get(f"{base}/api/status", params={"token": token}, timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, f"JupyterLab did not answer in {START_SECONDS} s"
            time.sleep(0.5)
        yield base, token, proc
    finally:
        if proc.poll() is None:                        # the test failed before its own shutdown
            for p in psutil.Process(proc.pid).children(recursive=True) + [psutil.Process(proc.pid)]:
                p.kill()
            proc.wait(10)
        log.close()


def _clear_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, path)


def _wait_for_kernel(lab, path: str) -> None:
    """Until the server has an idle kernel for the notebook at `path` (the page connects to it)."""
    base, token, _ = lab
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        sessions = requests.get(f"{base}/api/sessions", params={"token": token}, timeout=5).json()
        if any(s["path"] == path and s["kernel"]["execution_state"] == "idle" for s in sessions):
            return
        time.sleep(0.5)
    raise AssertionError(f"no kernel became idle for {path} in {START_SECONDS} s")


def _run_cells(page, indices: list[int]) -> None:
    """Run these cells of the open notebook as a learner does: select one, Shift+Enter,
    wait until it has run."""
    cells = page.locator(".jp-NotebookPanel:visible .jp-Cell")
    page.wait_for_function(BUSY_DONE, timeout=START_SECONDS * 1000)
    page.wait_for_timeout(1000)                        # the page's kernel connection settles
    for i in indices:
        prompt = cells.nth(i).locator(".jp-InputPrompt")
        prompt.click()
        page.keyboard.press("Shift+Enter")
        page.wait_for_timeout(300)
        page.wait_for_function(BUSY_DONE, timeout=CELL_SECONDS * 1000)
        assert re.search(r"\[\d+\]", prompt.inner_text()), f"cell {i} did not run: {prompt.inner_text()!r}"


# the shown notebook's kernel is idle (its toolbar's status) and no cell waits to run ([*])
BUSY_DONE = """() => {
  const panel = [...document.querySelectorAll('.jp-NotebookPanel')].find(p => p.offsetParent !== null);
  const status = panel && panel.querySelector('.jp-Toolbar [data-status]');
  return !!status && status.getAttribute('data-status') === 'idle' &&
    ![...panel.querySelectorAll('.jp-InputPrompt')].some(p => p.innerText.includes('*'));
}"""


def _output_text(page) -> str:
    return " ".join(page.locator(".jp-NotebookPanel:visible .jp-OutputArea-output").all_inner_texts())


def _wait_for_output(page, pattern: str, seconds: float = CELL_SECONDS) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        text = _output_text(page)
        if re.search(pattern, text):
            return text
        page.wait_for_timeout(500)
    raise AssertionError(f"no output matching {pattern!r} after {seconds} s; outputs: {_output_text(page)[-1500:]}")


def test_a_learner_runs_a_lesson_and_an_exercise_in_jupyterlab(lab):
    from playwright.sync_api import sync_playwright

    base, token, proc = lab
    outside, errors = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("pageerror", lambda e: errors.append(str(e)[:300]))

            def refuse(route):
                outside.append(route.request.url[:120])
                route.abort()
            page.route(re.compile(r"^(?!(data:|blob:|about:|ws://127\.0\.0\.1|http://127\.0\.0\.1)).*"), refuse)

            page.on("console", lambda m: m.type == "error" and errors.append(f"console: {m.text[:300]}"))
            page.on("response", lambda r: r.status >= 400 and errors.append(f"HTTP {r.status}: {r.url[:200]}"))
            # the lesson: imports, `course doctor`, the device; the doctor prints "ok" lines
            page.goto(f"{base}/lab/tree/{LESSON}?token={token}", timeout=90_000)
            page.locator(".jp-NotebookPanel:visible .jp-Cell").nth(5).wait_for(timeout=90_000)
            _wait_for_kernel(lab, LESSON)
            _run_cells(page, [1, 3, 5])                # imports, `course doctor`, the device
            text = _wait_for_output(page, r"device: cpu|device: cuda")
            assert "FAIL" not in text, text[-1500:]

            # the paired source, opened as a notebook by jupytext
            page.locator(".jp-DirListing-item", has_text="day00_setup.py").first.click(button="right")
            page.locator(".lm-Menu-item", has_text="Open With").first.hover()
            page.locator(".lm-Menu-item", has_text="Jupytext Notebook").first.click()
            page.wait_for_url("**/notebooks/day00_setup.py", timeout=30_000)
            page.locator(".jp-NotebookPanel:visible .jp-Cell").nth(10).wait_for(timeout=60_000)
            page.locator(".jp-NotebookPanel:visible .jp-MarkdownOutput h1", has_text="Day 00").wait_for(timeout=30_000)

            # the exercise: its imports, the first function (not yet written), its check cell
            page.goto(f"{base}/lab/tree/{EXERCISE}?token={token}", timeout=90_000)
            page.locator(".jp-NotebookPanel:visible .jp-Cell").nth(4).wait_for(timeout=90_000)
            _wait_for_kernel(lab, EXERCISE)
            _run_cells(page, [1, 3, 4])                # imports, the function (unwritten), its check
            _wait_for_output(page, r"NotImplementedError")
        except Exception:
            FAILURE_SHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(FAILURE_SHOT))      # what the page showed, for a person to look at
            raise
        finally:
            browser.close()
    assert not outside, f"requests that left the loopback server: {outside[:10]}"
    assert not errors, f"page errors: {errors[:5]}"

    # shut down the way Jupyter's own "Shut Down" does, and leave no process behind
    started = psutil.Process(proc.pid).children(recursive=True)
    assert any("ipykernel" in " ".join(p.cmdline()) for p in started), "no kernel ran"
    requests.post(f"{base}/api/shutdown", headers={"Authorization": f"token {token}"}, timeout=10).raise_for_status()
    assert proc.wait(30) == 0
    gone, alive = psutil.wait_procs(started, timeout=15)
    assert not alive, f"processes left behind: {[p.cmdline()[:3] for p in alive]}"
