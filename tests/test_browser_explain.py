"""The Draw page's "Look inside the network" in a real browser: a digit drawn with the mouse,
the toggle switched on, the saliency and every layer's maps drawn by plotly.

Also takes the README's picture of the Draw page (docs/draw.png, with UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import re

import pytest
from browser import draw_page, require_chromium, screenshot_path, stroke
from test_browser_draw import DIGITS

pytestmark = pytest.mark.browser

TRACES = """key => {
  const chart = document.querySelector(`.st-key-${key} .js-plotly-plot`);
  return chart && chart.data && chart._fullLayout ? chart.data.map(t => [t.type, t.name]) : null;
}"""
# Plotly draws heatmaps and images as <image> elements once their data is on screen.
DRAWN = """key => document.querySelectorAll(`.st-key-${key} .js-plotly-plot .main-svg image`).length"""
VIEWS = {
    "inside_saliency": ["image", "saliency"],
    "inside_filters": ["heatmap", "filters"],
    "inside_conv1": ["heatmap", "conv1"],
    "inside_conv2": ["heatmap", "conv2"],
}


def test_look_inside_renders_for_a_drawn_digit(good_run_dir, tmp_path):
    require_chromium()
    from playwright.sync_api import expect

    with draw_page(good_run_dir, tmp_path, viewport=(1400, 1000)) as page:
        surface = page.locator("canvas.upper-canvas")

        box = surface.bounding_box()
        for points in DIGITS[7]:
            stroke(page, box, points)
        answer = page.get_by_role("heading", name=re.compile(r"^Prediction: "))
        expect(answer).to_be_visible(timeout=60_000)
        inside = page.get_by_text("Look inside the network", exact=True)
        expect(page.locator(".st-key-inside_saliency")).to_have_count(0)  # off by default
        inside.click()

        expect(page.get_by_role("heading", name="Inside the network")).to_be_visible(timeout=60_000)
        for key, trace in VIEWS.items():
            page.wait_for_function(f"() => ({DRAWN})('{key}') >= 1", timeout=30_000)
            assert page.evaluate(TRACES, key) == [trace], key
        expect(page.get_by_text("bright where it found its pattern")).to_be_visible()
        expect(page.get_by_test_id("stException")).to_have_count(0)

        # The README's picture: the whole page, canvas and answer to the last layer's maps.
        # Streamlit scrolls inside its main section, so grow the window to its full height.
        height = page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollHeight")
        page.set_viewport_size({"width": 1400, "height": max(1000, min(int(height), 4000))})
        page.wait_for_timeout(800)  # let plotly redraw at the new size
        page.screenshot(path=str(screenshot_path("draw.png", tmp_path)))
