"""The Draw page in a real browser: mouse strokes on the real canvas, the page's answer.

The app runs under `streamlit run` with a runs folder holding one accurate model;
Chromium (Playwright) opens /draw and draws a 1, a 7 and a 0, clearing in between.
"""

from __future__ import annotations

import contextlib
import re

import pytest
from browser import draw_page, ellipse, require_chromium, stroke

pytestmark = pytest.mark.browser

ANSWER = re.compile(r"^Prediction: ")


DIGITS = {  # digit -> strokes
    1: [[(140, 40), (138, 140), (136, 240)]],
    7: [[(70, 50), (140, 50), (210, 50)], [(210, 50), (165, 145), (125, 245)]],
    0: [ellipse(140, 140, 62, 100)],
}


def test_drawing_digits_with_the_mouse_shows_the_right_answer(good_run_dir, tmp_path):
    require_chromium()
    from playwright.sync_api import expect

    with draw_page(good_run_dir, tmp_path) as page:
        surface = page.locator("canvas.upper-canvas")
        prompt = page.get_by_text("Draw a digit on the canvas")
        answer = page.get_by_role("heading", name=ANSWER)
        seen = {}
        for digit, strokes in DIGITS.items():
            box = surface.bounding_box()
            for points in strokes:
                stroke(page, box, points)
            with contextlib.suppress(AssertionError):
                expect(answer).to_have_text(re.compile(rf"^Prediction: {digit}\b"), timeout=60_000)
            seen[digit] = answer.inner_text() if answer.count() else "(no answer)"
            page.get_by_role("button", name="Clear", exact=True).click()
            expect(answer).to_have_count(0, timeout=30_000)
            expect(prompt).to_be_visible(timeout=30_000)
            page.wait_for_timeout(1000)  # let the canvas load its new, empty drawing before the next strokes
        right = [d for d, text in seen.items() if text.startswith(f"Prediction: {d}")]
        assert len(right) == len(DIGITS), seen
