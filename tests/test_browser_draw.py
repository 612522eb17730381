"""The Draw page in a real browser: mouse strokes on the real canvas, the page's answer.

The app runs under `streamlit run` with a runs folder holding one accurate model;
Chromium (Playwright) opens /draw and draws a 1, a 7 and a 0, clearing in between.
"""

from __future__ import annotations

import contextlib
import re
import shutil

import pytest
from browser import browser_page, ellipse, require_chromium, serve_app, stroke

pytestmark = pytest.mark.browser

ANSWER = re.compile(r"^Prediction: ")


DIGITS = {  # digit -> strokes
    1: [[(140, 40), (138, 140), (136, 240)]],
    7: [[(70, 50), (140, 50), (210, 50)], [(210, 50), (165, 145), (125, 245)]],
    0: [ellipse(140, 140, 62, 100)],
}


def test_drawing_digits_with_the_mouse_shows_the_right_answer(good_run_dir, tmp_path):
    require_chromium()
    runs = tmp_path / "runs"
    shutil.copytree(good_run_dir, runs)
    from playwright.sync_api import expect

    with serve_app(env={"CNN_RUNS_DIR": str(runs)}) as url, browser_page() as page:
        # Open the app's front door first and wait for app.py's own navigation ("Draw", not
        # "draw"). A folder named pages/ beside app.py makes a fresh streamlit process serve
        # requests the old "pages directory" way until app.py has called st.navigation once:
        # /draw first would run pages/draw.py alone, without app.py's frame.
        page.goto(url)
        expect(page.get_by_role("link", name="Draw", exact=True)).to_be_visible(timeout=60_000)
        page.goto(f"{url}/draw")
        surface = page.locator("canvas.upper-canvas")
        expect(surface).to_be_visible(timeout=60_000)
        prompt = page.get_by_text("Draw a digit on the canvas")
        expect(prompt).to_be_visible(timeout=90_000)  # the model is loaded first
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
