"""The Draw page's Number mode in a real browser: "42" drawn with the mouse on the wide canvas.

The app runs under `streamlit run` with a runs folder holding one accurate model; Chromium
(Playwright) opens /draw, switches to Number and draws a 4 (in two strokes: the upright
crosses the bar) and a 2 beside it, which the page reads by the three strokes the canvas
recorded.
"""

from __future__ import annotations

import re

import pytest
from browser import draw_page, require_chromium
from test_browser_draw import stroke

pytestmark = pytest.mark.browser

FORTY_TWO = [
    [(170, 40), (110, 170), (240, 170)],  # the 4's slant and bar ...
    [(205, 70), (205, 250)],  # ... and its upright, a second stroke
    [(330, 90), (360, 50), (420, 45), (455, 80), (445, 130), (335, 240), (480, 240)],  # the 2
]


def test_drawing_42_with_the_mouse_reads_42(good_run_dir, tmp_path):
    require_chromium()
    from playwright.sync_api import expect

    with draw_page(good_run_dir, tmp_path) as page:
        page.get_by_test_id("stButtonGroup").get_by_text("Number", exact=True).click()
        expect(page.get_by_text("Draw a number on the canvas")).to_be_visible(timeout=60_000)
        surface = page.locator("canvas.upper-canvas")
        expect(surface).to_have_count(1, timeout=30_000)
        for _ in range(60):  # the wide canvas replaces the square one (in a shadow root: poll its box)
            box = surface.bounding_box()
            if box and box["width"] >= 690:
                break
            page.wait_for_timeout(500)
        assert box and box["width"] >= 690, box
        page.wait_for_timeout(500)  # let the new canvas settle before the first stroke
        for points in FORTY_TWO:
            stroke(page, box, points)
        answer = page.get_by_role("heading", name=re.compile(r"^Number: "))
        expect(answer).to_have_text(re.compile(r"^Number: 42$"), timeout=60_000)
        # Read by the strokes the canvas recorded (its Fabric.js paths), not by connected ink.
        expect(page.get_by_text(re.compile(r"your 3 strokes"))).to_be_visible()
        page.screenshot(path=str(tmp_path / "number.png"), full_page=True)
