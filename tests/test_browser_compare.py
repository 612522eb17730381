"""The Compare page in a real browser: two saved runs, their table and overlaid curves.

Also takes the README's picture of the page (docs/compare.png, with UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import pytest
from browser import browser_page, require_chromium, screenshot_path, serve_app

pytestmark = pytest.mark.browser

TRACE_NAMES = """key => {
  const chart = document.querySelector(`.st-key-${key} .js-plotly-plot`);
  return chart && chart.data ? chart.data.map(t => t.name) : null;
}"""
DRAWN_TRACES = """key => document.querySelectorAll(`.st-key-${key} .js-plotly-plot .scatterlayer .trace`).length"""


def test_the_table_and_the_overlaid_curves_render(tmp_path, tiny_result, tiny_config):
    require_chromium()
    from playwright.sync_api import expect

    from cnn.store import save_run
    from cnn.train import train

    runs = tmp_path / "runs"
    save_run(tiny_result[0], "8 filters, dropout 0.25", runs)
    save_run(train(tiny_config.replace(filters=4, dropout=0.0, train_size=1000)), "4 filters, no dropout", runs)

    with serve_app(env={"CNN_RUNS_DIR": str(runs)}) as url, browser_page(viewport=(1400, 1000)) as page:
        # The front door first (see tests/test_browser_draw.py), until app.py's navigation is
        # drawn: "Compare" from st.navigation, not "compare" from the pages/ folder.
        page.goto(url)
        expect(page.get_by_role("link", name="Compare", exact=True)).to_be_visible(timeout=60_000)
        page.goto(f"{url}/compare")
        expect(page.get_by_role("heading", name="Compare runs")).to_be_visible(timeout=60_000)
        # The first visit scores each run on the drawn digits (a few seconds, once per process).
        expect(page.get_by_test_id("stDataFrame").first).to_be_visible(timeout=120_000)
        for key in ("overlay_loss", "overlay_accuracy"):
            page.wait_for_function(f"() => ({DRAWN_TRACES})('{key}') >= 4")
            names = page.evaluate(TRACE_NAMES, key)
            assert set(names) == {
                "8 filters, dropout 0.25",
                "8 filters, dropout 0.25 · validation",
                "4 filters, no dropout",
                "4 filters, no dropout · validation",
            }, names
        expect(page.get_by_test_id("stException")).to_have_count(0)

        page.wait_for_timeout(500)  # let the charts finish their first transition
        page.screenshot(path=str(screenshot_path("compare.png", tmp_path)))


@pytest.mark.parametrize("page_path", ["compare", "draw"])
def test_a_first_visit_after_a_start_runs_inside_the_app_frame(tmp_path, page_path):
    # With a pages/ folder, a fresh server runs a page script on its own until app.py has
    # drawn st.navigation once; every page must leave that mode (ui.workarounds.enter_app_frame).
    require_chromium()
    from playwright.sync_api import expect

    with serve_app(env={"CNN_RUNS_DIR": str(tmp_path / "runs")}) as url, browser_page() as page:
        page.goto(f"{url}/{page_path}")  # the very first request this server sees
        expect(page.get_by_role("link", name="Compare", exact=True)).to_be_visible(timeout=60_000)
        expect(page.get_by_role("link", name="Train", exact=True)).to_be_visible()
        expect(page.get_by_test_id("stException")).to_have_count(0)
