"""A teacher in charge: students own what they make, the teacher can do anything, jobs are
fair, and a class experiment locks every knob but one. Real pages through app.py (AppTest)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cnn import classroom, jobs
from cnn.classroom import claim_nickname, owner_key
from cnn.config import TrainConfig
from cnn.store import get_run, list_runs

APP = str(Path(__file__).resolve().parent.parent / "app.py")
ALICE, BOB = "alice-token-0123456789", "bob-token-0123456789ab"
TINY = TrainConfig(epochs=1, filters=8, dense_units=32, train_size=2000, batch_size=64)


@pytest.fixture
def queue(runs_dir):
    return jobs.job_queue()  # the one the app's pages use (conftest shuts it down)


@pytest.fixture
def passcode(monkeypatch):
    import ui.session

    monkeypatch.setenv("CNN_TEACHER_PASSCODE", "chalk-42")
    monkeypatch.setattr(ui.session, "_passcode", None)
    return "chalk-42"


def open_as(page: str, token: str, teacher: bool = False) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["me"] = token
    at.session_state["teacher"] = teacher
    at.run()
    at.switch_page(page).run()
    # AppTest runs a page outside app.py after its first run (ui/frame.py): settle there before
    # interacting, since the widgets drawn by the first run differ from the ones after it.
    at.run()
    return ok(at)


def ok(at: AppTest) -> AppTest:
    assert not at.exception, at.exception
    return at


def owned_copy(run, runs_dir: Path, run_id: str, token: str, nickname: str, **changes):
    shutil.copytree(run.path, runs_dir / run_id)
    path = runs_dir / run_id / "run.json"
    meta = json.loads(path.read_text())
    meta.update(id=run_id, owner=owner_key(token), owner_name=nickname, **changes)
    path.write_text(json.dumps(meta))
    return get_run(run_id)


def submit_button(at: AppTest, label: str):
    found = [b for b in at.button if b.proto.label == label]
    assert found, [b.proto.label for b in at.button]
    return found[0]


def test_a_student_may_rename_and_delete_only_their_own_runs(good_run, runs_dir):
    mine = owned_copy(good_run, runs_dir, "20250101-000000-mine-000000", ALICE, "alice", name="alice's run")
    theirs = owned_copy(good_run, runs_dir, "20250101-000000-theirs-00000", BOB, "bob", name="bob's run")
    at = open_as("pages/compare.py", ALICE)
    at.selectbox(key="manage").set_value(theirs.id).run()
    assert at.button(key="rename").disabled and at.button(key="delete").disabled
    assert not [b for b in at.button if b.key == "class_model"]  # the teacher chooses it
    at.selectbox(key="manage").set_value(mine.id).run()
    assert not at.button(key="rename").disabled and not at.button(key="delete").disabled
    at.text_input(key="new_name").input("alice renamed").run()
    at.button(key="rename").click().run()
    assert get_run(mine.id).name == "alice renamed" and get_run(theirs.id).name == "bob's run"
    table = ok(at).dataframe[0].value
    assert dict(zip(table["name"], table["by"])) == {"alice renamed": "alice", "bob's run": "bob", "good test run": ""}


def test_the_teacher_may_change_any_run_and_mark_the_class_model(good_run, runs_dir):
    theirs = owned_copy(good_run, runs_dir, "20250101-000000-theirs-00000", BOB, "bob", name="bob's run")
    at = open_as("pages/compare.py", ALICE, teacher=True)
    at.selectbox(key="manage").set_value(theirs.id).run()
    at.button(key="class_model").click().run()
    assert ok(at) and json.loads((runs_dir / "class-model.json").read_text())["run"] == theirs.id
    at.button(key="delete").click().run()
    at.button(key="delete_yes").click().run()
    assert [r.id for r in list_runs()] == [good_run.id]


def test_the_passcode_unlocks_teacher_mode_and_a_wrong_one_does_not(runs_dir, passcode):
    at = open_as("pages/home.py", ALICE)
    at.sidebar.text_input(key="teacher_code").input("guess")
    submit_button(at, "Unlock").click().run()
    assert any("not the passcode" in e.value for e in ok(at).sidebar.error)
    assert not at.session_state["teacher"]
    at.sidebar.text_input(key="teacher_code").input(passcode)
    submit_button(at, "Unlock").click().run()
    assert at.session_state["teacher"] and any("Teacher mode" in s.value for s in ok(at).sidebar.success)


def test_a_nickname_is_chosen_once_kept_after_a_reload_and_not_taken_twice(runs_dir):
    at = open_as("pages/home.py", ALICE)
    at.sidebar.text_input[0].input("  Ada   L. ")
    submit_button(at, "That's me").click().run()
    assert classroom.nickname_of(owner_key(ALICE)) == "Ada L."
    again = open_as("pages/home.py", ALICE)  # a reload: the same address
    assert [t.value for t in again.sidebar.text] == ["Ada L."]
    bob = open_as("pages/home.py", BOB)
    bob.sidebar.text_input[0].input("ada l.")
    submit_button(bob, "That's me").click().run()
    assert any("already goes by" in e.value for e in ok(bob).sidebar.error)
    assert classroom.nickname_of(owner_key(BOB)) is None


def test_a_job_over_the_teachers_budget_cannot_start_but_the_teacher_can(queue):
    for teacher in (False, True):
        at = open_as("pages/train.py", ALICE, teacher=teacher)
        for name, value in {"epochs": 50, "filters": 128}.items():
            at.slider(key=name).set_value(value).run()
        at.number_input(key="dense_units").set_value(1024).run()
        over = [e.value for e in ok(at).error if "the teacher allows at most" in e.value]
        assert bool(over) != teacher, over
        assert at.button(key="start").disabled != teacher
        if not teacher:
            assert "about 5" in over[0] or "hours" in over[0] or "minutes" in over[0]


def test_a_class_experiment_locks_every_knob_but_one_and_its_runs_fill_the_chart(queue, runs_dir, passcode):
    experiment = classroom.start_experiment("What does dropout do?", ["dropout"], TINY)
    claim_nickname(owner_key(ALICE), "alice")
    at = open_as("pages/train.py", ALICE)
    assert any("Class experiment" in i.value and "What does dropout do" in i.value for i in at.info)
    assert at.slider(key="filters").disabled and at.slider(key="filters").value == 8
    assert at.number_input(key="train_size").value == 2000 and at.number_input(key="train_size").disabled
    assert not at.slider(key="dropout").disabled
    at.slider(key="dropout").set_value(0.5).run()
    at.button(key="start").click().run()
    (job,) = queue.jobs_of(owner_key(ALICE))
    assert job.experiment == experiment.id and job.config == dataclasses.replace(TINY, dropout=0.5)
    deadline = time.monotonic() + 240
    while not (job := queue.get(job.id)).ended:
        assert time.monotonic() < deadline
        queue.touch(owner_key(ALICE))
        time.sleep(0.2)
    assert job.run is not None and job.run.experiment == experiment.id and job.run.owner_name == "alice"

    projector = open_as("pages/classroom.py", BOB)
    spec = json.loads(projector.get("plotly_chart")[0].proto.spec)
    (trace,) = spec["data"]
    assert trace["text"] == ["alice"] and trace["x"] == [0.5]


def test_the_teacher_stops_anyones_job_from_the_class_page(queue, runs_dir):
    job = queue.submit(owner_key(BOB), TINY.replace(epochs=5, train_size=20000), owner_name="bob")
    at = open_as("pages/classroom.py", ALICE)
    assert "bob" in [t.value for t in at.text]
    assert not [b for b in at.button if b.key == f"stop_{job.id}"]  # students see who, not a Stop
    teacher = open_as("pages/classroom.py", ALICE, teacher=True)
    teacher.button(key=f"stop_{job.id}").click().run()
    deadline = time.monotonic() + 120
    while not (job := queue.get(job.id)).ended:
        assert time.monotonic() < deadline
        queue.touch(owner_key(BOB))
        time.sleep(0.1)
    assert job.stop_reason == "stopped by the teacher"
