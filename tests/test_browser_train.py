"""The Train page in a real browser: Start a short run, see the live curves move, get results."""

from __future__ import annotations

import re
import time

import pytest
from browser import browser_page, serve_app

LOSS_POINTS = """() => {
  const chart = document.querySelector('.st-key-live_loss .js-plotly-plot');
  // _fullData holds the x values decoded (the figure sends numpy arrays as base64 typed arrays)
  return chart && chart._fullData && chart._fullData.length ? chart._fullData[0].x.length : null;
}"""
PROGRESS_TEXT = """() => {
  const bar = document.querySelector('[data-testid="stMainBlockContainer"] [data-testid="stProgress"]');
  return bar ? bar.innerText : null;
}"""


@pytest.mark.browser
def test_a_short_run_updates_live_and_ends_with_results(tmp_path):
    with serve_app(env={"CNN_RUNS_DIR": str(tmp_path / "runs")}) as url, browser_page() as page:
        page.goto(f"{url}/train")
        page.get_by_role("heading", name="Train a network").wait_for()

        slider = page.locator('input[aria-label="Filters"]')
        slider.focus()
        slider.press("Home")  # to its minimum
        page.get_by_text(re.compile(r"Conv3x3 4\b")).wait_for()
        page.get_by_text("Advanced").click()
        images = page.get_by_role("spinbutton", name="Training images", exact=True)
        # Enough steps (2 epochs of ~170, several seconds) for the live view to redraw while it trains.
        images.fill("24000")
        images.press("Enter")
        page.get_by_text("21,600 training and 2,400 validation images").wait_for()
        page.get_by_role("button", name="Start training").click()

        loss_points, progress = set(), set()
        results = page.get_by_text("Test accuracy", exact=True)
        deadline = time.monotonic() + 180
        while not results.is_visible():
            assert time.monotonic() < deadline, f"no results; saw {loss_points=} {progress=}"
            if (n := page.evaluate(LOSS_POINTS)) is not None:
                loss_points.add(n)
            if text := page.evaluate(PROGRESS_TEXT):
                progress.add(text)
            page.wait_for_timeout(200)

        assert len(loss_points - {0}) >= 2, f"the live loss chart was drawn once only: {loss_points}"
        assert len(progress) >= 2, progress
        page.get_by_text("Saved as").wait_for()
        assert page.get_by_test_id("stMetricValue").first.inner_text().endswith("%")
