"""The Draw page on a phone: a finger draws without scrolling the page, and the answer is in
view while drawing (a 390 x 844 touch screen, strokes sent as touch events)."""

from __future__ import annotations

import re

import pytest
from browser import draw_page, require_chromium, touch_stroke

pytestmark = pytest.mark.browser
PHONE = (390, 844)
# Streamlit scrolls its main area, not the window.
SCROLLER = "document.querySelector('[data-testid=\"stMain\"]')"
SCROLLED = f"() => {SCROLLER}.scrollTop"
SEVEN = [[(60, 60), (140, 60), (220, 60)], [(220, 60), (170, 150), (130, 245)]]  # two strokes


def test_a_finger_draws_without_scrolling_and_the_answer_is_in_view(good_run_dir, tmp_path):
    require_chromium()
    from playwright.sync_api import expect

    with draw_page(good_run_dir, tmp_path, viewport=PHONE, phone=True) as page:
        surface = page.locator("canvas.upper-canvas")
        # As someone drawing holds it: the canvas near the top of the screen (and the page not at
        # its very top, so that a stroke that scrolled it would show).
        page.evaluate(f"() => {{ {SCROLLER}.scrollTop += {surface.bounding_box()['y'] - 60}; }}")
        before = page.evaluate(SCROLLED)
        assert before > 0
        box = surface.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE[0] + 1, box  # the canvas fits the screen
        for points in SEVEN:
            touch_stroke(page, box, points)
            assert page.evaluate(SCROLLED) == before, "a finger stroke scrolled the page"
        answer = page.get_by_role("heading", name=re.compile(r"^Prediction"))
        expect(answer).to_be_visible(timeout=60_000)
        assert page.evaluate(SCROLLED) == before
        heading = answer.bounding_box()
        canvas = surface.bounding_box()
        assert heading["y"] + heading["height"] <= PHONE[1], (heading, canvas)  # in view with the canvas
        assert canvas["y"] < PHONE[1] and heading["y"] > canvas["y"]
        # Right after the canvas: before the upload box (which once pushed it off the screen).
        assert heading["y"] < page.get_by_test_id("stFileUploader").bounding_box()["y"]
        expect(answer).to_have_text(re.compile(r"^Prediction: 7\b"))
