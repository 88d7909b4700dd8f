"""The workshop as an attendee meets it: ``labkit jupyter`` on the local cluster, lesson 00 run cell by cell
in JupyterLab through headless Chromium (Debian's, driven by Playwright), then ``kubectl get nodes`` typed
in a JupyterLab terminal. Screenshots are kept with the test's output (the runs folder)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import labkit as lk
from tests.labkit.workshop.jupyter_process import (
    JupyterRun,
    cluster_environment,
    labkit_command,
    labkit_jupyter,
)
from tests.notebooks.papermill_run import runs_dir

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",  # as root, Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
NAMESPACE = "lab-browser"
LESSON = "00-prerequisites.ipynb"
LESSON_CHECKS = [
    "✓ the API server answers (version v1.20",
    "✓ 1 node(s) Ready",
    "✓ a default storage class exists: ['standard']",
    "✓ namespace, ServiceAccount, Role and RoleBinding applied",
    f"✓ namespace {NAMESPACE} exists",
    "✓ the Role grants only coordination.k8s.io leases",
    "✓ the registry's ServiceAccount may get, create and update leases",
    "✓ …and may not read secrets (least privilege)",
    "✓ the namespace's default ServiceAccount may not touch leases",
]
ALL_PROMPTS_NUMBERED = """() => {
    const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt')];
    return prompts.length > 0 && prompts.every(p => /^\\[\\d+\\]:$/.test(p.textContent.trim()));
}"""
KERNEL_IDLE = "() => (document.querySelector('.jp-StatusBar-Widget, #jp-main-statusbar')?.innerText || '')"
KERNEL_IDLE += ".includes('MCP Mesh lab | Idle')"
TERMINAL_SHOWS = """([pattern, flags]) => new RegExp(pattern, flags).test(
    document.querySelector('.jp-Terminal .xterm-accessibility')?.innerText || '')"""
# Reading a terminal needs its text in the page: xterm draws on a canvas unless screen-reader mode is on.
TERMINAL_SETTINGS = {"@jupyterlab/terminal-extension/plugin.jupyterlab-settings": {"screenReaderMode": True}}


def wait_kernel_idle(page: Any) -> None:
    """Wait until the status bar shows the lab's kernel idle."""
    page.wait_for_function(KERNEL_IDLE, timeout=180_000, polling=500)


def wait_terminal(page: Any, pattern: str) -> None:
    """Wait until the terminal's text matches (multi-line regex)."""
    page.wait_for_function(TERMINAL_SHOWS, arg=[pattern, "m"], timeout=60_000, polling=500)


def require_chromium() -> None:
    if CHROMIUM.is_file():
        return
    message = f"the browser test needs Debian's Chromium at {CHROMIUM} (make test installs it as root)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def shots() -> Path:
    folder = runs_dir() / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser screenshots are kept in {folder}")
    return folder


@pytest.fixture
def workshop(local_cluster: Any, tmp_path: Path) -> Iterator[JupyterRun]:
    require_chromium()
    workdir = tmp_path / "work"
    for relative, values in TERMINAL_SETTINGS.items():
        path = workdir / ".jupyter" / "user-settings" / relative
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(values))
    env = cluster_environment(local_cluster)
    try:
        with labkit_jupyter(env, "--workdir", str(workdir), "--namespace", NAMESPACE) as run:
            print(f"labkit jupyter answered after {run.seconds_to_url:.1f}s: {run.lines}")
            yield run
    finally:
        lab = lk.connect(local_cluster, namespace=NAMESPACE, progress=False)
        lab.delete(f"namespace/{NAMESPACE}", wait=False)


@pytest.mark.timeout(900)
def test_lesson_00_runs_in_jupyterlab_and_a_terminal_reaches_the_cluster(
    workshop: JupyterRun, local_cluster: Any, shots: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    assert httpx.get(f"{workshop.base}/api/status").status_code == 403, "the server must want its token"
    again = subprocess.run(
        labkit_command("jupyter", "--workdir", str(tmp_path / "work")),
        capture_output=True,
        text=True,
        env=cluster_environment(local_cluster),
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1] == workshop.url  # a second labkit jupyter prints the running URL

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=LAUNCH_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            page = browser.new_page()
            started = time.monotonic()
            page.goto(workshop.url)
            page.wait_for_selector(".jp-DirListing-content", timeout=120_000)
            assert page.locator(".jp-Notification-Toast").count() == 0, "no first-run prompt for attendees"

            page.locator(".jp-DirListing-item", has_text=LESSON).dblclick()
            wait_kernel_idle(page)  # the lesson's own kernel, chosen by the working copy, with no dialog
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").click()
            page.locator(".lm-Menu-itemLabel").get_by_text("Run All Cells", exact=True).click()
            page.wait_for_function(ALL_PROMPTS_NUMBERED, timeout=300_000, polling=500)
            wait_kernel_idle(page)
            lesson_seconds = time.monotonic() - started
            page.screenshot(path=str(shots / "lesson-00.png"))
            print(f"lesson 00 in JupyterLab: opened, run and idle after {lesson_seconds:.1f}s")

            errors = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]')
            text = "\n".join(page.locator(".jp-Notebook .jp-OutputArea-output").all_text_contents())
            assert errors.count() == 0, text
            assert "Traceback" not in text
            shown = [line.strip() for line in text.splitlines() if line.strip().startswith(("✓", "✗", "○"))]
            for expected in LESSON_CHECKS:
                assert any(line.startswith(expected) for line in shown), (expected, shown)
            assert not [line for line in shown if line.startswith("✗")], shown
            assert "○ exercise not done yet" in text
            assert page.get_by_text("Jupyter news").count() == 0, "JupyterLab asked about news"

            page.locator(".lm-MenuBar-itemLabel", has_text="File").click()
            page.locator(".lm-Menu-itemLabel").get_by_text("New", exact=True).hover()
            page.locator(".lm-Menu-itemLabel").get_by_text("Terminal", exact=True).click()
            terminal = page.locator(".jp-Terminal .xterm").last
            terminal.wait_for(timeout=60_000)
            wait_terminal(page, r"[#$] $")
            terminal.click()
            page.keyboard.type("kubectl get nodes\n")
            wait_terminal(page, r"labkit-node\s+Ready")
            page.keyboard.type("kubectl config view --minify -o jsonpath='{..namespace}'; echo\n")
            wait_terminal(page, rf"^{NAMESPACE}\s*$")
            page.keyboard.type("kubectl version --client 2>&1 | head -1\n")  # the server's minor comes first
            wait_terminal(page, r"Client Version: .*v1\.20\.2")
            page.screenshot(path=str(shots / "terminal-kubectl-get-nodes.png"))
        finally:
            browser.close()
