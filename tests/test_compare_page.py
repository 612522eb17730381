"""The Compare page, through the real app with AppTest, over runs really trained and saved.

Three tiny runs are trained once for the module (they differ in epochs, filters, dropout
and the number of training images) and copied into each test's own runs folder.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from cnn import card
from cnn.store import RunInfo, class_model, delete_run, get_run, list_runs, save_run
from ui import runs_table

APP = str(Path(__file__).resolve().parent.parent / "app.py")
NAMES = ("alpha", "beta", "gamma")  # saved in this order: gamma is the newest


@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory, tiny_result, tiny_config) -> Path:
    """A runs folder with three runs: alpha (tiny_config), beta (no dropout, fewer images),
    gamma (2 epochs, 4 filters, fewer images)."""
    from cnn.train import train

    root = tmp_path_factory.mktemp("compare-runs")
    save_run(tiny_result[0], "alpha", root)
    save_run(train(tiny_config.replace(dropout=0.0, train_size=1000)), "beta", root)
    save_run(train(tiny_config.replace(epochs=2, filters=4, train_size=1000)), "gamma", root)
    return root


@pytest.fixture
def runs(trained_runs, runs_dir) -> dict[str, str]:
    """The three runs copied into this test's runs folder: {name: run id}."""
    shutil.copytree(trained_runs, runs_dir)
    return {run.name: run.id for run in list_runs(runs_dir)}


def open_page(teacher: bool = True, **state) -> AppTest:
    """The Compare page, by default as the teacher (who may change any run)."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["teacher"] = teacher
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.switch_page("pages/compare.py").run()
    return ok(at)


def ok(at: AppTest) -> AppTest:
    assert not at.exception, at.exception
    return at


TABLES = {"leaderboard": "rank", "differences": "setting"}  # a table, by its first column


def frame(at: AppTest, table: str):
    """The leaderboard or the differences table, as a pandas DataFrame."""
    found = [d.value for d in at.dataframe if d.value.columns[0] == TABLES[table]]
    assert len(found) == 1, f"{len(found)} {table} tables"
    return found[0]


def chart(at: AppTest, key: str) -> dict:
    (found,) = [c for c in at.get("plotly_chart") if getattr(c, "key", None) == key]
    return json.loads(found.proto.spec)


def values(v) -> list:
    """A plotly trace's array, plain or as plotly encodes numpy arrays (base64 + dtype)."""
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).tolist()
    return list(v)


def texts(elements) -> str:
    return " ".join(e.value for e in elements)


def test_no_runs_says_so_and_links_to_training(runs_dir):
    at = open_page()
    assert "No saved runs yet" in texts(at.info)
    assert [link.proto.page for link in at.get("page_link")] == ["train"]
    assert not at.dataframe


def test_table_lists_every_run_most_accurate_first_with_the_varying_knobs(runs):
    at = open_page()
    table = frame(at, "leaderboard")
    saved = {run.name: run for run in list_runs()}
    assert sorted(table["name"]) == sorted(NAMES)
    for _, row in table.iterrows():
        assert row["test_accuracy"] == pytest.approx(saved[row["name"]].test_accuracy)
        assert row["parameters"] == saved[row["name"]].parameters
        assert row["status"] == "finished"
    assert list(table["test_accuracy"]) == sorted(table["test_accuracy"], reverse=True)
    assert list(table["rank"]) == [1, 2, 3]
    # Always epochs, filters, dropout; train_size because it differs; batch_size does not.
    assert {"epochs", "filters", "dropout", "train_size", "images_per_s", "train_seconds", "created"} <= set(table)
    assert "batch_size" not in table and "optimizer" not in table
    assert dict(zip(table["name"], table["train_size"])) == {"alpha": 3000, "beta": 1000, "gamma": 1000}
    assert not table["class_model"].any()


def test_overlay_draws_each_chosen_run_and_the_axis_changes_x(runs):
    at = open_page()
    assert at.multiselect(key="selected").value == [runs["gamma"], runs["beta"]]  # the two newest
    at.multiselect(key="selected").set_value([runs["alpha"], runs["beta"]]).run()
    ok(at)
    for key in ("overlay_loss", "overlay_accuracy"):
        traces = chart(at, key)["data"]
        assert {t["name"] for t in traces} == {"alpha", "alpha · validation", "beta", "beta · validation"}
    by_step = {t["name"]: values(t["x"]) for t in chart(at, "overlay_loss")["data"]}
    alpha = get_run(runs["alpha"])
    assert by_step["alpha"] == alpha.history.step
    assert by_step["alpha · validation"] == alpha.history.val_step

    at.radio(key="x_axis").set_value("time").run()
    by_time = {t["name"]: values(t["x"]) for t in chart(ok(at), "overlay_loss")["data"]}
    assert by_time["alpha"] == pytest.approx(alpha.history.time)
    assert by_time["alpha"] != by_step["alpha"]

    at.radio(key="x_axis").set_value("epoch").run()
    by_epoch = {t["name"]: values(t["x"]) for t in chart(ok(at), "overlay_loss")["data"]}
    assert by_epoch["alpha"][-1] == pytest.approx(1.0)  # one full epoch


def test_config_differences_show_exactly_the_fields_that_differ(runs):
    at = open_page()
    at.multiselect(key="selected").set_value([runs["alpha"], runs["beta"]]).run()
    diff = frame(ok(at), "differences")
    assert list(diff["setting"]) == ["dropout", "training images"]
    assert list(diff.columns) == ["setting", "alpha", "beta"]
    assert list(diff["alpha"]) == ["0.25", "3000"] and list(diff["beta"]) == ["0", "1000"]

    at.multiselect(key="selected").set_value([runs["beta"], runs["gamma"]]).run()
    assert list(frame(ok(at), "differences")["setting"]) == ["epochs", "filters", "dropout"]


def test_rename_persists_and_an_empty_name_is_refused(runs):
    at = open_page()
    at.selectbox(key="manage").set_value(runs["beta"]).run()
    assert ok(at).text_input(key="new_name").value == "beta"
    at.text_input(key="new_name").input("  no  dropout ").run()
    at.button(key="rename").click().run()
    assert "Renamed" in texts(ok(at).success)
    assert get_run(runs["beta"]).name == "no dropout"
    assert "no dropout" in list(frame(at, "leaderboard")["name"])

    at.text_input(key="new_name").input("   ").run()
    at.button(key="rename").click().run()
    assert "cannot be empty" in texts(ok(at).error)
    assert get_run(runs["beta"]).name == "no dropout"


def test_delete_asks_first_and_cancel_keeps_the_run(runs):
    at = open_page()
    at.selectbox(key="manage").set_value(runs["gamma"]).run()  # gamma is also in the overlay
    at.button(key="delete").click().run()
    assert ok(at).button(key="delete_yes")  # the dialog asks
    assert get_run(runs["gamma"])  # nothing deleted yet
    at.button(key="delete_no").click().run()
    assert not [b for b in ok(at).button if b.key == "delete_yes"]
    assert len(frame(at, "leaderboard")) == 3 and get_run(runs["gamma"])

    at.button(key="delete").click().run()
    at.button(key="delete_yes").click().run()
    assert "Deleted “gamma”" in texts(ok(at).success)
    assert runs["gamma"] not in {run.id for run in list_runs()}
    assert sorted(frame(at, "leaderboard")["name"]) == ["alpha", "beta"]
    assert not [b for b in at.button if b.key == "delete_yes"]
    assert at.multiselect(key="selected").value == [runs["beta"]]
    assert {t["name"] for t in chart(at, "overlay_loss")["data"]} == {"beta", "beta · validation"}


def test_a_run_deleted_elsewhere_meanwhile_gives_a_message_not_a_crash(runs):
    at = open_page()
    at.selectbox(key="manage").set_value(runs["beta"]).run()
    delete_run(runs["beta"])  # another tab, between drawing the page and the click
    at.button(key="rename").click().run()
    assert "There is no saved run" in texts(ok(at).error)
    at.selectbox(key="manage").set_value(runs["alpha"]).run()
    delete_run(runs["alpha"])
    at.button(key="class_model").click().run()
    assert "There is no saved run" in texts(ok(at).error)
    assert class_model() is None
    assert list(frame(at, "leaderboard")["name"]) == ["gamma"]


def test_download_button_and_the_zip_it_serves(runs):
    at = open_page()
    (button,) = [b for b in at.get("download_button") if b.key == "download"]
    assert "Download" in button.proto.label
    run = get_run(runs["beta"])
    facts = card.card(run, drawn_accuracy=0.93, class_accuracy=None)
    with zipfile.ZipFile(io.BytesIO(runs_table.run_zip(run, facts))) as z:
        assert sorted(z.namelist()) == sorted(
            f"{run.id}/{name}" for name in ("model.keras", "run.json", "MODEL_CARD.md", "model_card.json")
        )
        assert z.read(f"{run.id}/run.json") == (run.path / "run.json").read_bytes()
        assert z.read(f"{run.id}/model.keras") == run.model_path.read_bytes()
        # The card's round trip: what it says is what the run is.
        back = json.loads(z.read(f"{run.id}/model_card.json"))
        text = z.read(f"{run.id}/MODEL_CARD.md").decode()
    assert back["settings"] == run.config.to_dict() and back["accuracy"]["mnist_test"] == run.test_accuracy
    assert back["accuracy"]["drawn_digits"] == 0.93 and back["model"]["parameters"] == run.parameters
    assert back["machine"]["cores"] and back["machine"]["keras"].startswith("3.")
    assert f"{run.test_accuracy:.2%}" in text and "93.00%" in text and run.summary in text
    assert runs_table.zip_name(run) == f"{run.id}.zip"


def test_marking_and_unmarking_the_class_model(runs):
    at = open_page()
    at.selectbox(key="manage").set_value(runs["beta"]).run()
    assert ok(at).button(key="class_model").label == "Make this the class model"
    at.button(key="class_model").click().run()
    assert class_model() == runs["beta"]
    table = frame(ok(at), "leaderboard")
    assert dict(zip(table["name"], table["class_model"])) == {"alpha": False, "beta": True, "gamma": False}
    assert at.button(key="class_model").label == "Unmark"
    at.button(key="class_model").click().run()
    assert class_model() is None
    assert not frame(ok(at), "leaderboard")["class_model"].any()


def test_what_mattered_has_one_point_per_run_for_each_varying_knob(runs):
    at = open_page()
    traces = chart(at, "what_mattered")["data"]
    assert [t["name"] for t in traces] == ["epochs", "filters", "dropout", "training images"]
    saved = {run.name: run.test_accuracy for run in list_runs()}
    for t in traces:
        assert sorted(t["text"]) == sorted(NAMES)
        assert dict(zip(t["text"], values(t["y"]))) == pytest.approx(saved)
    filters = dict(zip(traces[1]["text"], values(traces[1]["x"])))
    assert filters == {"alpha": 8, "beta": 8, "gamma": 4}


def test_a_damaged_run_is_listed_with_its_reason_and_can_be_deleted(runs, runs_dir):
    broken = runs_dir / "20200101-000000-custom-abcdef"
    shutil.copytree(runs_dir / runs["alpha"], broken)
    (broken / "run.json").write_text("{ this is not json", encoding="utf-8")
    at = open_page()
    assert "cannot be used" in texts(at.warning)
    assert "20200101-000000-custom-abcdef" in texts(at.markdown) and "is not valid" in texts(at.markdown)
    assert sorted(frame(at, "leaderboard")["name"]) == sorted(NAMES)  # the rest works as usual
    at.button(key="delete_damaged_20200101-000000-custom-abcdef").click().run()
    at.button(key="delete_yes").click().run()
    assert not broken.exists()
    assert not ok(at).warning and "Deleted" in texts(at.success)


def test_curves_on_each_axis_and_runs_without_timings(runs):
    run = get_run(runs["gamma"])  # 2 epochs
    h = run.history
    by_epoch = runs_table.curve(run, "epoch")
    per_epoch = run.config.steps_per_epoch
    assert by_epoch.x == pytest.approx([s / per_epoch for s in h.step]) and by_epoch.x[-1] == pytest.approx(2.0)
    assert runs_table.curve(run, "time").val_x == h.val_time
    old = dataclasses.replace(run, history=dataclasses.replace(h, time=[]))
    assert runs_table.curve(old, "time") is None and runs_table.curve(old, "step") is not None


def test_equal_names_get_distinct_table_headings(tmp_path):
    same = [RunInfo(id=f"r{i}", path=tmp_path, name="test") for i in range(3)]
    assert runs_table.names(same) == ["test", "test (2)", "test (3)"]
