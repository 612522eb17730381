"""Untrusted text stays text: a hostile run name or nickname, shown on every page, is never
turned into a link, an image, a style or a formula. AppTest checks what the pages send;
the browser test checks what Chromium actually builds from it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from browser import browser_page, require_chromium, serve_app
from streamlit.testing.v1 import AppTest

from cnn import classroom
from cnn.classroom import owner_key
from cnn.store import get_run, list_runs, rename_run
from ui.text import WORD_JOINER, md, plotly_text

APP = str(Path(__file__).resolve().parent.parent / "app.py")
EVIL = "evil.example"
HOSTILE = [
    f'<a href="http://{EVIL}/">click</a>',
    f"![x](http://{EVIL}/img.png) [link](http://{EVIL}/)",
    '<span style="font-size:60px">BIG</span> :red[**shout**] $x^2$',
    "%{y} &amp; <b>bold</b> <img src=x onerror=alert(1)>",
]
NICKNAME = "![i](http://evil.example) <b>"  # a nickname is at most 30 characters
TOKEN = "student-token-0123456789"


def hostile_runs(good_run, runs_dir: Path) -> list[str]:
    """Copies of the good run, each named with one hostile string; returns their ids."""
    ids = []
    for i, name in enumerate(HOSTILE):
        run_id = f"20250101-00000{i}-hostile-00000{i}"
        shutil.copytree(good_run.path, runs_dir / run_id)
        rename_run(run_id, name, runs_dir)
        assert get_run(run_id, runs_dir).name == name  # stored as typed: it is data
        ids.append(run_id)
    return ids


def open_page(page: str, teacher: bool = True, **state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["me"] = TOKEN
    at.session_state["teacher"] = teacher
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.switch_page(page).run()
    at.run()
    assert not at.exception, at.exception
    return at


def markdown_sources(at: AppTest) -> list[str]:
    kinds = ("markdown", "success", "info", "warning", "error", "caption", "subheader", "header", "title")
    return [e.value for kind in kinds for e in at.get(kind)]


def assert_no_raw(texts: list[str]) -> None:
    """No hostile string reaches markdown unescaped (escaped, it has a backslash before '<', '[', ...)."""
    for text in texts:
        for name in HOSTILE:
            assert name not in text, (name, text)


def test_hostile_run_names_stay_text_on_the_compare_page(good_run, runs_dir):
    ids = hostile_runs(good_run, runs_dir)
    at = open_page("pages/compare.py", selected=ids[:2])
    assert_no_raw(markdown_sources(at))
    charts = {c.key: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    assert {"overlay_loss", "overlay_accuracy"} <= set(charts)
    for key, spec in charts.items():
        text = json.dumps(spec)
        assert "<a href" not in text and "<span" not in text and "<img" not in text, key
    names = {t["name"] for t in charts["overlay_loss"]["data"] if "validation" not in t["name"]}
    assert names == {plotly_text(n) for n in HOSTILE[:2]}

    # Rename, delete: the messages and the dialog quote the name escaped.
    at.selectbox(key="manage").set_value(ids[0]).run()
    at.button(key="delete").click().run()
    assert_no_raw(markdown_sources(at))
    assert any(md(HOSTILE[0]) in m for m in markdown_sources(at))  # the dialog names it, literally
    at.button(key="delete_yes").click().run()
    assert any(f"Deleted “{md(HOSTILE[0])}”" in s.value for s in at.success)
    at.selectbox(key="manage").set_value(ids[1]).run()
    at.text_input(key="new_name").input(HOSTILE[2]).run()
    at.button(key="rename").click().run()
    assert any(f"Renamed to “{md(HOSTILE[2])}”" in s.value for s in at.success)
    assert_no_raw(markdown_sources(at))


def test_hostile_names_and_nicknames_stay_text_on_draw_train_and_class(good_run, runs_dir, monkeypatch):
    ids = hostile_runs(good_run, runs_dir)
    classroom.claim_nickname(owner_key(TOKEN), NICKNAME)
    classroom.start_experiment(HOSTILE[3], ["dropout"], good_run.config)
    draw = AppTest.from_file(str(Path(APP).parent / "pages" / "draw.py"), default_timeout=120).run()
    assert not draw.exception
    assert set(draw.selectbox(key="run").options) >= {get_run(i).label for i in ids}  # plain-text options
    assert_no_raw(markdown_sources(draw))
    for page in ("pages/train.py", "pages/classroom.py", "pages/home.py"):
        at = open_page(page, teacher=False)
        assert_no_raw(markdown_sources(at))
        assert all(NICKNAME not in m for m in markdown_sources(at))
        assert NICKNAME in [t.value for t in at.sidebar.text]  # the nickname, as st.text
    train = open_page("pages/train.py", teacher=False)
    assert any(md(HOSTILE[3]) in i.value for i in train.info)  # the experiment's question, escaped


@pytest.mark.browser
def test_a_hostile_name_is_neither_a_link_nor_an_image_nor_a_style_in_the_browser(good_run, runs_dir):
    require_chromium()
    from playwright.sync_api import expect

    ids = hostile_runs(good_run, runs_dir)
    with (
        serve_app(env={"CNN_RUNS_DIR": str(runs_dir), "CNN_TEACHER_PASSCODE": "chalk-42"}) as url,
        browser_page() as page,
    ):
        page.goto(url)
        expect(page.get_by_role("link", name="Compare", exact=True)).to_be_visible(timeout=60_000)
        page.get_by_text("Teacher", exact=True).click()
        page.get_by_label("Passcode").fill("chalk-42")
        page.get_by_role("button", name="Unlock").click()
        expect(page.get_by_text("Teacher mode", exact=True)).to_be_visible()
        page.get_by_role("link", name="Compare", exact=True).click()
        expect(page.get_by_role("heading", name="Compare runs")).to_be_visible(timeout=60_000)
        page.wait_for_function("() => document.querySelectorAll('.st-key-overlay_loss .legendtext').length >= 2")
        legend = page.eval_on_selector_all(".st-key-overlay_loss .legendtext", "els => els.map(e => e.textContent)")
        assert HOSTILE[3] in legend, legend  # the newest two runs are overlaid: shown literally
        assert page.locator(f'a[href*="{EVIL}"]').count() == 0
        assert page.locator(f'img[src*="{EVIL}"]').count() == 0
        # The delete dialog for a hostile run.
        page.locator(".st-key-manage input").click()
        page.keyboard.type("![x]")  # the picker filters its options as you type
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.querySelector('.st-key-manage input').value.startsWith('![x]')")
        page.get_by_role("button", name="Delete…").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("will be deleted")
        shown = dialog.evaluate("e => e.textContent").replace(WORD_JOINER, "")  # (invisible, see ui/text.py)
        assert f"![x](http://{EVIL}/img.png)" in shown
        assert dialog.locator("a").count() == 0 and dialog.locator("img").count() == 0
        assert page.locator(f'a[href*="{EVIL}"]').count() == 0
        assert page.locator(f'img[src*="{EVIL}"]').count() == 0
        assert page.locator('span[style*="font-size:60px"]').count() == 0
    assert {r.id for r in list_runs(runs_dir)} >= set(ids)  # nothing was deleted
