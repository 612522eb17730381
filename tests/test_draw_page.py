"""The Draw page, driven by Streamlit's AppTest with real drawings and a real model.

Drawings are real MNIST test digits re-drawn as pen strokes (cnn.drawings.draw_digit),
injected as the value the canvas component sends: a PNG data URL of the RGBA canvas.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from cnn.classroom import owner_key
from cnn.data import load_mnist
from cnn.drawings import draw_digit
from cnn.imagefile import MAX_UPLOAD_BYTES

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "draw.py")


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist() -> tuple[np.ndarray, np.ndarray]:
    data = load_mnist()
    return data.x_test[:50].copy(), data.y_test[:50].copy()


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def canvas_value(rgba: np.ndarray) -> dict:
    """What streamlit-drawable-canvas sends after a stroke."""
    url = "data:image/png;base64," + base64.b64encode(png(rgba)).decode("ascii")
    return {"drawing": {"raw": {"objects": [{"type": "Path"}]}, "data": url}, "backgroundFit": None}


def photo_of(digit: np.ndarray, side: int = 240, seed: int = 0) -> bytes:
    """An MNIST digit as a photo of paper might look: dark ink on light, slightly noisy grey."""
    rng = np.random.default_rng(seed)
    big = np.asarray(Image.fromarray(digit).resize((side // 2, side // 2), Image.BICUBIC), np.float32)
    paper = np.full((side, side), 225.0, np.float32) + rng.normal(0, 4, (side, side))
    paper[side // 4 : side // 4 + side // 2, side // 5 : side // 5 + side // 2] -= big * 0.8
    grey = np.clip(paper, 0, 255).astype(np.uint8)
    return png(np.stack([grey, grey, (grey * 0.95).astype(np.uint8)], axis=2))


def page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=120)


def run_with(at: AppTest, rgba: np.ndarray | None) -> AppTest:
    if rgba is not None:
        at.session_state["canvas"] = canvas_value(rgba)
    at.run()
    assert not at.exception, at.exception
    return at


def headers(at: AppTest) -> list[str]:
    return [h.value for h in at.header]


def shown_digit(at: AppTest) -> int | None:
    """The digit the page announces (the first one when it is unsure), or None."""
    for text in headers(at):
        if text.startswith("Prediction: "):
            return int(text.split()[1])
    return None


def charts(at: AppTest) -> list:
    return at.get("plotly_chart")


def chart(at: AppTest, key: str) -> dict:
    """The plotly figure (as JSON) of the chart with this key."""
    (found,) = [c for c in charts(at) if getattr(c, "key", None) == key]
    return json.loads(found.proto.spec)


def values(v) -> np.ndarray:
    """A plotly trace's array, plain or as plotly 6 encodes numpy arrays (base64 + dtype)."""
    if isinstance(v, dict) and "bdata" in v:
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
        return a.reshape([int(n) for n in str(v["shape"]).split(",")]) if "shape" in v else a
    return np.asarray(v, float)


def errors(at: AppTest) -> str:
    return " ".join(e.value for e in at.error)


def infos(at: AppTest) -> str:
    return " ".join(i.value for i in at.info)


# ---------------------------------------------------------------------------------------
# Drawings
# ---------------------------------------------------------------------------------------


def test_digits_drawn_small_large_and_off_centre_are_read_right(good_run, mnist):
    x, y = mnist
    cases = [  # (test digit, drawn height, centre (y, x), pen)
        (0, 70, (50, 50), 7),
        (1, 220, (135, 140), 22),
        (2, 80, (225, 60), 8),
        (3, 200, (150, 130), 18),
        (4, 70, (228, 228), 7),
    ]
    at = page()
    right = 0
    for i, size, center, pen in cases:
        run_with(at, draw_digit(x[i], size=size, center=center, pen=pen))
        right += shown_digit(at) == int(y[i])
        assert len(charts(at)) == 2, "the probability bars and the 28x28 image"
        assert not at.error
    assert right >= 4, f"{right} of {len(cases)} read right"
    bars = chart(at, "bars")["data"][0]
    assert values(bars["y"]).shape == (10,) and abs(values(bars["y"]).sum() - 1) < 1e-3
    seen = chart(at, "seen")["data"][0]
    assert values(seen["z"]).shape == (28, 28)


def test_blank_canvas_asks_for_a_drawing(good_run):
    at = run_with(page(), None)  # before the first stroke the canvas value has no image
    assert "Draw a digit" in infos(at)
    assert shown_digit(at) is None and not charts(at)
    run_with(at, np.zeros((280, 280, 4), np.uint8))  # everything erased
    assert "Draw a digit" in infos(at)
    at.session_state["canvas"] = {
        "drawing": {"raw": {"objects": []}, "data": canvas_value(np.zeros((280, 280, 4), np.uint8))["drawing"]["data"]},
        "backgroundFit": None,
    }  # after Reset
    run_with(at, None)
    assert "Draw a digit" in infos(at)
    assert shown_digit(at) is None and not charts(at)


def test_a_speck_is_not_a_digit(good_run):
    speck = np.zeros((280, 280, 4), np.uint8)
    speck[100:104, 150:153, 3] = 255
    at = run_with(page(), speck)
    assert "No digit found" in infos(at)
    assert shown_digit(at) is None and not charts(at) and not at.error


def test_low_confidence_says_unsure_and_shows_the_top_two(good_run, mnist, monkeypatch):
    import cnn.predict

    monkeypatch.setattr(cnn.predict, "UNSURE_BELOW", 1.01)  # nothing is ever sure enough
    x, y = mnist
    at = run_with(page(), draw_digit(x[0], size=180, center=(140, 140), pen=16))
    (header,) = [h for h in headers(at) if h.startswith("Prediction")]
    assert header.startswith(f"Prediction: {y[0]} or ") and header.endswith("?")
    assert "unsure" in at.warning[0].value and "%" in at.warning[0].value
    assert len(charts(at)) == 2


def test_clear_empties_the_canvas_and_the_answer(good_run, mnist):
    x, _ = mnist
    at = run_with(page(), draw_digit(x[1], size=200, center=(140, 140), pen=18))
    assert shown_digit(at) is not None
    nonce = at.session_state["canvas_nonce"]
    at.button(key="clear").click().run()  # the canvas still reports the old drawing on this rerun
    assert at.session_state["canvas_nonce"] == nonce + 1
    assert shown_digit(at) is None and "Draw a digit" in infos(at)
    run_with(at, draw_digit(x[2], size=200, center=(140, 140), pen=18))  # the next drawing counts again
    assert shown_digit(at) is not None


@pytest.mark.parametrize("data", ["data:image/png;base64,!!!", "no data URL", "data:image/png;base64,AAAA"])
def test_a_garbled_canvas_value_is_a_clear_error_not_a_crash(good_run, data):
    at = page()
    at.session_state["canvas"] = {
        "drawing": {"raw": {"objects": [{"type": "Path"}]}, "data": data},
        "backgroundFit": None,
    }
    run_with(at, None)
    assert "Press Clear and draw again" in errors(at)
    assert shown_digit(at) is None


def test_how_it_was_prepared_shows_the_three_steps(good_run, mnist):
    x, _ = mnist
    at = run_with(page(), draw_digit(x[3], size=120, center=(70, 200), pen=12))
    at.toggle(key="steps").set_value(True).run()
    assert not at.exception
    assert len(charts(at)) == 5
    ink = chart(at, "step_ink")
    box = ink["layout"]["shapes"][0]
    assert box["x1"] > box["x0"] and box["y1"] > box["y0"]
    assert any("centre of mass" in c.value for c in at.caption)


# ---------------------------------------------------------------------------------------
# Look inside the network
# ---------------------------------------------------------------------------------------

INSIDE = ["inside_saliency", "inside_filters", "inside_conv1", "inside_conv2"]


def inside_keys(at: AppTest) -> list[str]:
    return sorted(k for c in charts(at) if (k := getattr(c, "key", None) or "").startswith("inside_"))


def test_look_inside_shows_saliency_every_conv_layer_and_the_filters(good_run, mnist):
    x, _ = mnist
    at = run_with(page(), draw_digit(x[7], size=200, center=(140, 140), pen=18))
    digit = shown_digit(at)
    assert at.toggle(key="inside").value is False and len(charts(at)) == 2, "off by default"
    at.toggle(key="inside").set_value(True).run()
    assert not at.exception and not at.error
    assert len(charts(at)) == 2 + 4 and inside_keys(at) == sorted(INSIDE)

    saliency = chart(at, "inside_saliency")
    (trace,) = saliency["data"]
    assert trace["type"] == "image" and trace["name"] == "saliency"
    assert values(trace["z"]).shape == (28, 28, 3)
    assert saliency["layout"]["title"]["text"] == f"Saliency: why {digit}"

    f = good_run.config.filters  # 16 for the fast default
    for key, n, side in (("inside_conv1", f, 28), ("inside_conv2", 2 * f, 14)):
        spec = chart(at, key)
        (trace,) = spec["data"]
        assert trace["type"] == "heatmap" and trace["name"] == key.removeprefix("inside_")
        rows = -(-n // 8)
        assert values(trace["z"]).shape == (rows * (side + 1) - 1, 8 * (side + 1) - 1), "n maps, 8 a row"
        assert spec["layout"]["title"]["text"].startswith(f"{trace['name']}: {n} maps, {side}×{side}")
    filters = chart(at, "inside_filters")["data"][0]
    assert filters["name"] == "filters" and filters["zmin"] == -filters["zmax"] < 0, "signed weights"
    assert values(filters["z"]).shape == (2 * 4 - 1, 8 * 4 - 1)  # 16 filters of 3x3
    assert any("bright where it found its pattern" in c.value for c in at.caption)

    at.toggle(key="inside").set_value(False).run()
    assert not at.exception and len(charts(at)) == 2 and not inside_keys(at)


def test_look_inside_computes_nothing_while_off_and_is_not_offered_without_a_digit(good_run, mnist, monkeypatch):
    import cnn.explain

    calls = []
    monkeypatch.setattr(cnn.explain, "explainer_for", lambda model: calls.append(model))
    x, _ = mnist
    at = run_with(page(), draw_digit(x[8], size=200, center=(140, 140), pen=18))
    assert shown_digit(at) is not None and not calls and not inside_keys(at)

    at = run_with(page(), None)  # a blank canvas: no answer, nothing to look inside
    assert not [t for t in at.get("toggle") if getattr(t, "key", None) == "inside"]
    assert not charts(at) and not calls


def test_look_inside_stays_on_across_clear_and_follows_the_next_drawing(good_run, mnist):
    x, y = mnist
    i, j = next((i, j) for i in range(10) for j in range(10) if y[i] != y[j])
    at = run_with(page(), draw_digit(x[i], size=200, center=(140, 140), pen=18))
    at.toggle(key="inside").set_value(True).run()
    first = chart(at, "inside_saliency")["layout"]["title"]["text"]
    at.button(key="clear").click().run()
    assert not at.exception and not charts(at)
    run_with(at, draw_digit(x[j], size=200, center=(140, 140), pen=18))
    assert at.toggle(key="inside").value is True, "still on after Clear"
    assert inside_keys(at) == sorted(INSIDE)
    assert chart(at, "inside_saliency")["layout"]["title"]["text"] == f"Saliency: why {shown_digit(at)}" != first


# ---------------------------------------------------------------------------------------
# Uploads
# ---------------------------------------------------------------------------------------


def test_a_photo_of_a_digit_is_read_right(good_run, mnist):
    x, y = mnist
    at = run_with(page(), None)
    at.file_uploader(key="upload").set_value(("digit.png", photo_of(x[5]), "image/png")).run()
    assert not at.exception and not at.error
    assert shown_digit(at) == y[5]
    assert len(charts(at)) == 2


def test_with_a_drawing_and_a_photo_the_page_says_which_it_classifies(good_run, mnist):
    x, y = mnist
    i, j = next((i, j) for i in range(10) for j in range(10) if y[i] != y[j])
    at = run_with(page(), draw_digit(x[i], size=200, center=(140, 140), pen=18))
    assert not at.get("radio"), "one input: nothing to choose"
    at.file_uploader(key="upload").set_value(("digit.png", photo_of(x[j]), "image/png")).run()
    assert at.radio(key="source").value == "uploaded photo"  # the newest input
    assert shown_digit(at) == y[j]
    assert any("Classifying the uploaded photo" in c.value for c in at.caption)
    at.radio(key="source").set_value("drawing").run()
    assert shown_digit(at) == y[i]


@pytest.mark.parametrize("kind", ["random bytes", "truncated png", "huge image", "huge file"])
def test_bad_uploads_give_a_clear_error_and_the_drawing_still_works(good_run, mnist, kind):
    x, y = mnist
    if kind == "random bytes":
        data, hint = np.random.default_rng(1).bytes(3000), "not a readable image"
    elif kind == "truncated png":
        data, hint = photo_of(x[5])[:600], "not a readable image"
    elif kind == "huge image":
        # Refused by our size check, or by Pillow's bomb guard (tightened to our limit) first.
        data, hint = png(np.full((6000, 6000), 255, np.uint8)), ("largest accepted", "megapixels accepted")
    else:
        data, hint = b"\x89PNG" + bytes(MAX_UPLOAD_BYTES), "too large"
    at = run_with(page(), draw_digit(x[1], size=200, center=(140, 140), pen=18))
    at.file_uploader(key="upload").set_value(("digit.png", data, "image/png")).run()
    assert not at.exception
    hints = hint if isinstance(hint, tuple) else (hint,)
    assert any(h in errors(at) for h in hints), errors(at)
    assert "upload" in errors(at).lower(), "the message says what to do"
    assert shown_digit(at) == y[1], "the drawing is still classified"
    assert not at.get("radio")


# ---------------------------------------------------------------------------------------
# The model picker, and no model at all
# ---------------------------------------------------------------------------------------


def _copy_run(run, runs_dir: Path, run_id: str, **changes) -> None:
    shutil.copytree(run.path, runs_dir / run_id)
    meta = json.loads((runs_dir / run_id / "run.json").read_text())
    meta.update(id=run_id, **{k: v for k, v in changes.items() if k != "accuracy"})
    if "accuracy" in changes:
        meta["test"]["accuracy"] = changes["accuracy"]
    (runs_dir / run_id / "run.json").write_text(json.dumps(meta))


def test_picker_lists_usable_runs_and_defaults_to_the_best(good_run, runs_dir):
    from cnn.store import set_class_model

    _copy_run(good_run, runs_dir, "20200101-000000-weak-000000", name="weak run", accuracy=0.5)
    (runs_dir / "20200101-000000-broken-000000").mkdir()
    (runs_dir / "20200101-000000-broken-000000" / "run.json").write_text("{garbage")
    at = run_with(page(), None)
    picker = at.selectbox(key="run")
    assert len(picker.options) == 2 and any("good test run" in o for o in picker.options)
    assert picker.value == good_run.id
    assert any("1 damaged saved run skipped" in c.value for c in at.caption)

    set_class_model("20200101-000000-weak-000000", runs_dir)  # a teacher's choice wins
    at = run_with(page(), None)
    assert at.selectbox(key="run").value == "20200101-000000-weak-000000"


def test_without_a_saved_run_the_page_offers_to_train(runs_dir):
    at = run_with(page(), None)
    assert at.button(key="train").label.startswith("Train the fast default")
    assert not at.get("selectbox") and not at.error


def test_with_only_a_damaged_run_the_page_still_offers_to_train(runs_dir, mnist):
    bad = runs_dir / "20240101-120000-fast-default-abcdef"
    bad.mkdir(parents=True)
    (bad / "run.json").write_text("not json at all")
    (bad / "model.keras").write_bytes(b"garbage")
    x, _ = mnist
    at = run_with(page(), draw_digit(x[0], size=200, center=(140, 140), pen=18))
    assert at.button(key="train") is not None
    assert not at.get("selectbox") and not at.error
    assert any("1 damaged" in c.value for c in at.caption)


def test_training_from_the_page_gives_a_model_to_draw_with(runs_dir, tiny_config, mnist, monkeypatch):
    import cnn.config
    from cnn.jobs import job_queue

    monkeypatch.setitem(cnn.config.PRESETS, "fast default", tiny_config)  # seconds, not a minute
    x, _ = mnist
    at = run_with(page(), draw_digit(x[0], size=200, center=(140, 140), pen=18))
    at.button(key="train").click().run()
    assert not at.exception and not at.error
    assert "Training a model for you" in infos(at)
    job_id = at.session_state["draw_job"]
    (job,) = [j for j in job_queue().jobs_of(owner_key(at.session_state["token"])) if j.id == job_id]
    deadline = time.monotonic() + 300
    while not (job := job_queue().get(job.id)).ended and time.monotonic() < deadline:
        job_queue().touch(owner_key(at.session_state["token"]))  # the page's heartbeat
        time.sleep(0.5)
    assert job.run is not None, (job.state, job.error)
    run_with(at, None)  # what the progress fragment's st.rerun() does
    assert at.selectbox(key="run").value == job.run.id
    assert shown_digit(at) is not None


def test_how_it_was_prepared_says_how_far_the_drawing_is_from_mnists_digits(good_run, mnist):
    x, _ = mnist
    thin = run_with(page(), draw_digit(x[3], size=200, center=(140, 140), pen=10))
    thin.toggle(key="steps").set_value(True).run()
    thick = run_with(page(), draw_digit(x[3], size=200, center=(140, 140), pen=60))
    thick.toggle(key="steps").set_value(True).run()
    tables = [next(d.value for d in at.dataframe) for at in (thin, thick)]
    rows = [{r["what"].split(",")[0]: r for r in t.to_dict("records")} for t in tables]
    assert set(rows[0]) == {
        "width of the ink",
        "stroke thickness",
        "slant: how far the ink leans right (positive) or left per pixel of height",
    }
    thin_pen, thick_pen = (r["stroke thickness"]["this drawing"] for r in rows)
    assert thick_pen > thin_pen + 1  # the pen shows
    assert rows[1]["stroke thickness"][""] == "higher than almost any MNIST digit"
