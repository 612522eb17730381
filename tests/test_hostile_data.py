"""Damaged or hostile data never takes a page down: hand-edited run folders, odd models,
a run deleted under someone drawing with it. Real runs, real pages (AppTest)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from cnn import store
from cnn.errors import CnnError
from cnn.store import MAX_META_BYTES, best_run, delete_run, get_run, list_runs, load_model

ROOT = Path(__file__).resolve().parent.parent


def edit_json(run, change) -> None:
    path = run.path / "run.json"
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))


def edit_json_at(path: Path, change) -> None:
    edit_json(store.RunInfo(id=path.name, path=path), change)


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda p: (p / "run.json").write_text("[" * 100_000 + "]" * 100_000), "nested too deeply"),
        (lambda p: edit_json_at(p, lambda m: m["test"].update(accuracy=float("nan"))), "test.accuracy is not"),
        (lambda p: edit_json_at(p, lambda m: m["test"].update(accuracy=1.5)), "test.accuracy is 1.5"),
        (lambda p: edit_json_at(p, lambda m: m["history"].update(loss=["x"])), "history.loss is not"),
        (lambda p: edit_json_at(p, lambda m: m.update(name={"a": 1})), "name is not text"),
        (lambda p: edit_json_at(p, lambda m: m.update(config="fast")), "config is not an object"),
        (lambda p: os.truncate(p / "run.json", MAX_META_BYTES + 1), "run.json is 50 MB"),
    ],
)
def test_a_hand_edited_run_is_damaged_with_a_reason_never_a_crash(good_run, damage, reason):
    damage(good_run.path)
    (listed,) = list_runs()
    assert listed.damaged and reason in listed.damaged, listed.damaged
    assert best_run() is None  # never the default model
    with pytest.raises(CnnError, match="damaged"):
        get_run(good_run.id)
    delete_run(good_run.id)
    assert list_runs() == []


def test_a_run_folder_linked_from_outside_is_listed_but_never_followed(good_run, runs_dir, tmp_path):
    outside = tmp_path / "outside"
    (runs_dir / good_run.id).rename(outside)
    link = runs_dir / good_run.id
    link.symlink_to(outside, target_is_directory=True)
    (listed,) = list_runs()
    assert listed.damaged and "link" in listed.damaged
    delete_run(good_run.id)  # removes the link only
    assert not link.exists() and (outside / "model.keras").is_file()


def test_a_model_that_does_not_read_28x28_digits_is_refused_clearly(good_run):
    from cnn.runtime import keras

    k = keras()
    wrong = k.Sequential([k.Input((32, 32, 3)), k.layers.Flatten(), k.layers.Dense(10, activation="softmax")])
    wrong.save(good_run.path / "model.keras")
    with pytest.raises(CnnError, match=r"takes \(32, 32, 3\).*28x28x1 image and gives 10"):
        load_model(get_run(good_run.id))


def test_look_inside_copes_with_a_network_without_convolutions(good_run):
    from cnn.explain import explainer_for, first_layer_filters
    from cnn.runtime import keras

    k = keras()
    dense = k.Sequential([k.Input((28, 28, 1)), k.layers.Flatten(), k.layers.Dense(10, activation="softmax")])
    explainer = explainer_for(dense)
    assert explainer.activations(np.zeros((28, 28), np.float32)) == []
    assert first_layer_filters(dense) is None
    assert explainer.saliency(np.ones((28, 28), np.float32), 3).shape == (28, 28)


def test_the_draw_page_shows_a_dense_network_without_crashing(good_run, mnist_digit):
    from cnn.runtime import keras

    k = keras()
    dense = k.Sequential([k.Input((28, 28, 1)), k.layers.Flatten(), k.layers.Dense(10, activation="softmax")])
    dense.save(good_run.path / "model.keras")
    at = AppTest.from_file(str(ROOT / "pages" / "draw.py"), default_timeout=120)
    at.session_state["canvas"] = mnist_digit
    at.session_state["inside"] = True
    at.run()
    assert not at.exception, at.exception
    assert any("no convolution layers" in i.value for i in at.info)


def test_the_picker_shows_the_run_that_answers_when_another_is_deleted(good_run, runs_dir, mnist_digit):
    import shutil

    other = runs_dir / "20200101-000000-other-000000"
    shutil.copytree(good_run.path, other)
    edit_json_at(other, lambda m: m.update(name="other run", id=other.name))
    at = AppTest.from_file(str(ROOT / "pages" / "draw.py"), default_timeout=120)
    at.session_state["canvas"] = mnist_digit
    at.run()
    at.selectbox(key="run").set_value(other.name).run()
    assert at.selectbox(key="run").value == other.name
    delete_run(other.name)  # by someone else
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="run").value == good_run.id  # shown = answering
    assert any("has just been deleted" in w.value for w in at.warning)
    assert at.header and at.header[0].value.startswith("Prediction")


@pytest.fixture
def mnist_digit():
    """A 7 from the MNIST test set as the canvas sends it."""
    import base64
    import io

    from PIL import Image

    from cnn.data import load_mnist

    digit = load_mnist().x_test[0]
    big = np.asarray(Image.fromarray(digit).resize((280, 280)))
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[..., 3] = big
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    return {"drawing": {"raw": {"objects": [{"type": "Path"}]}, "data": url}, "backgroundFit": None}


def test_metrics_outside_0_1_are_never_finite_accuracies():
    from cnn.records import fraction

    for bad in (math.nan, math.inf, -0.1, 1.01, True, "0.9"):
        with pytest.raises(ValueError):
            fraction(bad, "x")
