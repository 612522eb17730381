"""Real-browser testing support: the app served by `streamlit run`, driven by Chromium.

Debian's chromium at /usr/bin/chromium (installed by .ci/run); Playwright cannot
download its own browser here. Tests that need it are skipped when it is missing,
except in CI (CI=true), where a missing browser is a failure.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: .ci/run must install Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")


def screenshot_path(name: str, tmp_path: Path) -> Path:
    """Where a test's screenshot goes: docs/ (the README's pictures) when UPDATE_SCREENSHOTS=1,
    else the test's temporary folder, so an ordinary test run changes no tracked file."""
    folder = ROOT / "docs" if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(exist_ok=True)
    return folder / name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_app(env: dict[str, str], timeout: float = 60.0):
    """Start `streamlit run app.py` on a free port; yields its base URL."""
    port = _free_port()
    log = open(Path(env.get("CNN_RUNS_DIR", "/tmp")).parent / f"streamlit-{port}.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "app.py"),
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start; see {log.name}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        if "CNN_RUNS_DIR" in env:  # the training worker the server started, in its own session
            from cnn.jobs import default_db, stop_workers

            stop_workers(default_db(Path(env["CNN_RUNS_DIR"])))


@contextlib.contextmanager
def browser_page(viewport=(1400, 1000), phone: bool = False):
    """A fresh Chromium page (Playwright); ``phone``: a touch screen that reports itself as mobile."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(
                viewport={"width": viewport[0], "height": viewport[1]},
                device_scale_factor=1,
                is_mobile=phone,
                has_touch=phone,
            )
            page.set_default_timeout(60_000)
            yield page
        finally:
            browser.close()


@contextlib.contextmanager
def draw_page(runs_from: Path, tmp_path: Path, **browser):
    """The app serving a copy of the runs in ``runs_from``, a browser (``browser_page``'s
    options) on its Draw page, the model loaded and the canvas ready; yields the page.

    The front door first, until app.py's own navigation ("Draw", not "draw") is there: a
    folder named pages/ beside app.py makes a fresh streamlit process serve requests the old
    "pages directory" way until app.py has called st.navigation once, so /draw first would
    run pages/draw.py alone, without app.py's frame."""
    from playwright.sync_api import expect

    runs = tmp_path / "runs"
    shutil.copytree(runs_from, runs)
    with serve_app(env={"CNN_RUNS_DIR": str(runs)}) as url, browser_page(**browser) as page:
        page.goto(url)
        expect(page.get_by_role("link", name="Draw", exact=True)).to_be_attached(timeout=60_000)
        page.goto(f"{url}/draw")
        expect(page.locator("canvas.upper-canvas")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("Draw a digit on the canvas")).to_be_visible(timeout=90_000)  # the model is loaded
        yield page


# --- drawing on the real canvas -------------------------------------------------------------
def stroke(page, box, points, steps: int = 4) -> None:
    """One pen stroke through `points` (x, y in canvas pixels): down, move, up."""
    x0, y0 = box["x"], box["y"]
    page.mouse.move(x0 + points[0][0], y0 + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x0 + x, y0 + y, steps=steps)
    page.mouse.up()


def ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 40) -> list[tuple[float, float]]:
    return [(cx + rx * math.sin(2 * math.pi * k / n), cy - ry * math.cos(2 * math.pi * k / n)) for k in range(n + 1)]


def touch_stroke(page, box, points, steps: int = 4) -> None:
    """One finger stroke through `points` (canvas pixels), as touch events (Chrome DevTools)."""
    cdp = page.context.new_cdp_session(page)
    x0, y0 = box["x"], box["y"]

    def at(x, y):
        return [{"x": x0 + x, "y": y0 + y, "id": 1, "radiusX": 4, "radiusY": 4, "force": 1}]

    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": at(*points[0])})
    for (xa, ya), (xb, yb) in zip(points, points[1:]):
        for k in range(1, steps + 1):
            cdp.send(
                "Input.dispatchTouchEvent",
                {"type": "touchMove", "touchPoints": at(xa + (xb - xa) * k / steps, ya + (yb - ya) * k / steps)},
            )
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()
