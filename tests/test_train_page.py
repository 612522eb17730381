"""The Train page, driven through the real app with AppTest: real training on MNIST slices.

Each test gets its own runs folder and its own job queue, whose worker process trains. A
``Gate`` holds a job still at a chosen step (the worker waits inside its progress report,
``JobQueue.hold_at_step``) until the test lets it go, so "while it is running" is a state
the test controls, not a race against the clock.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from cnn import jobs
from cnn.classroom import owner_key
from cnn.data import load_mnist
from cnn.errors import CnnError
from cnn.store import list_runs, load_model
from cnn.train import probabilities

ROOT = Path(__file__).resolve().parent.parent
DEADLINE = 240  # seconds; generous, the machine is shared
TINY = {"epochs": 1, "filters": 8, "dense_units": 32, "train_size": 2000, "batch_size": 64}


class Gate:
    """Makes the worker hold a job at its first progress report from step ``at_step`` on, until ``release``."""

    def __init__(self, queue: jobs.JobQueue, at_step: int = 1):
        self.queue = queue
        self.hold(at_step)

    def hold(self, at_step: int) -> None:
        self.queue.hold_at_step(at_step)

    def reached(self) -> bool:
        """Wait until a job is held (False if none is by the deadline)."""
        deadline = time.monotonic() + DEADLINE
        while not self.queue.held():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def release(self) -> None:
        self.queue.hold_at_step(None)


@pytest.fixture
def queue(runs_dir, tmp_path, monkeypatch):
    # The job database beside the runs folder, not in it: a test below blocks the runs folder.
    monkeypatch.setenv("CNN_JOBS_DB", str(tmp_path / "jobs" / "jobs.db"))
    return jobs.job_queue()  # the one the app's pages use (conftest shuts it down)


@pytest.fixture
def gate(queue):
    g = Gate(queue)
    yield g
    g.release()


def open_app(token: str | None = None) -> AppTest:
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    if token:
        app.query_params["me"] = token
    app.run()
    app.switch_page("pages/train.py").run()
    assert not app.exception
    return app


@pytest.fixture
def at(queue) -> AppTest:
    return open_app()


# --- helpers -----------------------------------------------------------------------------------
def widget(at: AppTest, key: str):
    for kind in ("slider", "number_input", "selectbox", "checkbox", "text_input"):
        try:
            return getattr(at, kind)(key=key)
        except KeyError:
            continue
    raise KeyError(key)


def fill(at: AppTest, **values) -> None:
    for key, value in values.items():
        widget(at, key).set_value(value)
    at.run()
    assert not at.exception


def the_job(queue: jobs.JobQueue, at: AppTest) -> jobs.Job:
    (job,) = queue.jobs_of(owner_key(at.session_state.token))
    return job


def wait_until_ended(at: AppTest, queue: jobs.JobQueue, job: jobs.Job) -> jobs.Job:
    """Rerun the page (as the live fragment would) until the job has ended and the page shows it."""
    deadline = time.monotonic() + DEADLINE
    while not (job := queue.get(job.id)).ended:
        assert time.monotonic() < deadline, f"the job did not end (state {job.state})"
        time.sleep(0.3)
        at.run()
    at.run()
    assert not at.exception
    return job


def charts(at: AppTest) -> dict[str, dict]:
    """The page's plotly charts by key, as plotly JSON."""
    return {c.key: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def element_after(at: AppTest, key: str):
    """The element drawn right after the widget ``key``, in the same container."""

    def walk(block):
        children = list(block.children.values())
        for i, node in enumerate(children):
            if getattr(node, "key", None) == key:
                return children[i + 1] if i + 1 < len(children) else None
            if hasattr(node, "children") and (found := walk(node)) is not None:
                return found
        return None

    return walk(at.main)


# --- tests -------------------------------------------------------------------------------------
def test_a_tiny_run_shows_progress_then_results_and_is_saved(at, queue, gate, runs_dir):
    fill(at, **TINY, run_name="my tiny run")
    at.button(key="start").click().run()
    job = the_job(queue, at)
    assert job.name == "my tiny run"

    assert gate.reached(), queue.get(job.id).error
    at.run()  # the job is held mid-run: the live view shows it
    (progress,) = at.main.progress  # (the sidebar follows the job too)
    assert "epoch 1/1" in progress.text and "images/s" in progress.text
    assert at.button(key="stop").label == "Stop"
    live = charts(at)
    assert set(live) == {"live_loss", "live_accuracy"}
    assert live["live_loss"]["data"][0]["y"], "the loss curve has points"
    # The show in view: the live job first, the form folded away (and Start off while it runs).
    assert not [b for b in at.button if b.key == "start"] and not at.main.get("expander")
    at.toggle(key="show_form").set_value(True).run()
    assert at.button(key="start").disabled, "one job at a time per session"

    gate.release()
    job = wait_until_ended(at, queue, job)
    assert job.state == jobs.FINISHED, job.error
    shown = metrics(at)
    assert shown["Test accuracy"] == f"{job.outcome.test.accuracy:.2%}"
    final = charts(at)
    assert {"final_loss", "final_accuracy", "confusion", "per_class"} <= set(final)
    assert final["confusion"]["data"][0]["type"] == "heatmap"
    assert len(at.image) == 24, "a gallery of the 24 surest mistakes"
    assert " read as " in at.image[0].captions[0]
    assert not at.get("progress")

    (run,) = list_runs(runs_dir)
    assert (run.name, run.status) == ("my tiny run", "finished")
    assert any(run.name in s.value for s in at.success)
    assert at.get("page_link")

    at.text_input(key=f"rename_{run.id}").set_value("renamed run")
    at.button(key="rename").click().run()
    assert [r.name for r in list_runs(runs_dir)] == ["renamed run"]
    assert any("renamed run" in s.value for s in at.success)


def test_stop_mid_run_keeps_a_usable_model(at, queue, gate, runs_dir):
    fill(at, epochs=3, filters=16, dense_units=32, batch_norm=False, train_size=5000, batch_size=64)
    gate.hold(4500 // 64)  # hold the job once a whole epoch is learned
    at.button(key="start").click().run()
    job = the_job(queue, at)
    assert gate.reached(), queue.get(job.id).error
    at.run()
    at.button(key="stop").click().run()
    assert at.button(key="stop").disabled, "the button says it is stopping"
    gate.release()

    job = wait_until_ended(at, queue, job)
    assert job.state == jobs.STOPPED and job.stop_reason == "stopped by you"
    assert job.outcome.steps < job.config.epochs * job.config.steps_per_epoch
    assert any("Stopped after step" in w.value for w in at.warning)
    assert "Test accuracy" in metrics(at)

    (run,) = list_runs(runs_dir)
    assert run.status == "stopped"
    model = load_model(run)
    data = load_mnist()
    accuracy = np.mean(probabilities(model, data.x_test[:500]).argmax(1) == data.y_test[:500])
    assert accuracy > 0.5, accuracy


def test_invalid_settings_are_shown_at_their_field_and_nothing_starts(at, queue):
    widget(at, "conv_blocks").set_value(5)
    at.run()
    error = element_after(at, "conv_blocks")
    assert error is not None and error.type == "error" and "Conv blocks" in error.value
    assert at.button(key="start").disabled
    assert "fix the settings" in " ".join(m.value for m in at.markdown)

    fill(at, conv_blocks=2, kernel_size=3, train_size=1000, batch_size=1000)
    error = element_after(at, "batch_size")
    assert error is not None and error.type == "error"
    assert "Batch size" in error.value and "900" in error.value
    assert element_after(at, "conv_blocks") is None or element_after(at, "conv_blocks").type != "error"
    assert at.button(key="start").disabled

    assert queue.jobs_of(owner_key(at.session_state.token)) == []

    fill(at, batch_size=64)
    assert not at.error and not at.button(key="start").disabled


def test_switching_pages_mid_run_keeps_the_job_and_the_form(at, queue, gate):
    fill(at, **TINY)
    at.button(key="start").click().run()
    job = the_job(queue, at)
    assert gate.reached(), queue.get(job.id).error

    at.switch_page("pages/draw.py").run()
    for _ in range(3):
        at.run()
        time.sleep(0.2)
    job = queue.get(job.id)
    assert job.state == jobs.RUNNING and not job.stopping

    at.switch_page("pages/train.py").run()
    assert not at.exception
    assert at.progress and set(charts(at)) == {"live_loss", "live_accuracy"}
    at.toggle(key="show_form").set_value(True).run()
    assert (widget(at, "epochs").value, widget(at, "filters").value, widget(at, "train_size").value) == (1, 8, 2000)

    gate.release()
    job = wait_until_ended(at, queue, job)
    assert job.state == jobs.FINISHED, job.error
    assert {"final_loss", "final_accuracy"} <= set(charts(at))


def test_a_reload_finds_the_running_job_again(queue, gate):
    first = open_app()
    fill(first, **TINY)
    first.button(key="start").click().run()
    job = the_job(queue, first)
    assert gate.reached(), queue.get(job.id).error

    again = open_app(first.session_state.token)  # the same address in a new session: a reload
    assert again.main.progress and set(charts(again)) == {"live_loss", "live_accuracy"}
    assert again.button(key="stop").label == "Stop" and not [b for b in again.button if b.key == "start"]

    gate.release()
    job = wait_until_ended(again, queue, job)
    assert job.state == jobs.FINISHED and "Test accuracy" in metrics(again)


def test_after_a_server_restart_the_page_says_the_job_was_interrupted(queue, gate):
    import os
    import signal

    first = open_app()
    fill(first, **TINY)
    first.button(key="start").click().run()
    job = the_job(queue, first)
    assert gate.reached(), queue.get(job.id).error
    (pid,) = [r["pid"] for r in queue.db.read("SELECT pid FROM workers")]
    os.kill(pid, signal.SIGKILL)  # the machine goes down, trainer and all
    while jobs._alive(pid, jobs.HOST):
        time.sleep(0.05)
    queue.close()
    jobs._queues.clear()  # the server starts again: its first page opens the queue afresh

    again = open_app(first.session_state.token)
    gate.queue = jobs.job_queue()  # the new one (the hold lives in the database)
    assert any("The server stopped while this job was training" in e.value for e in again.error)
    assert not again.button(key="start").disabled, "start it again"
    assert not again.get("progress")


def test_a_preset_sets_every_knob_and_the_summary_follows(at):
    summary = next(m.value for m in at.markdown if m.value.startswith("**Model:**"))
    at.selectbox(key="preset").set_value("seed tutorial").run()
    assert (widget(at, "filters").value, widget(at, "epochs").value) == (64, 3)
    assert (widget(at, "architecture").value, widget(at, "optimizer").value) == ("tutorial", "adam")
    assert widget(at, "augment").value is False
    new_summary = next(m.value for m in at.markdown if m.value.startswith("**Model:**"))
    assert new_summary != summary and "Conv3x3 64" in new_summary and "parameters" in new_summary

    fill(at, filters=48)
    assert at.selectbox(key="preset").value == "custom"
    assert "Conv3x3 48" in next(m.value for m in at.markdown if m.value.startswith("**Model:**"))


def test_a_failed_save_can_be_retried(at, queue, runs_dir):
    runs_dir.write_text("a file where the runs folder should be")
    fill(at, **TINY)
    at.button(key="start").click().run()
    job = wait_until_ended(at, queue, the_job(queue, at))
    assert job.state == jobs.FINISHED and job.run is None and job.error
    assert any("Could not save" in e.value for e in at.error)

    runs_dir.unlink()
    at.button(key="save_again").click().run()
    job = queue.get(job.id)
    assert job.run is not None and [r.id for r in list_runs(runs_dir)] == [job.run.id]
    assert any("Saved as" in s.value for s in at.success)


def test_streamlit_leaves_the_keras_session_alone(at, monkeypatch):
    """Streamlit clears keras' session after every run unless told not to (ui/workarounds.py, installed by app.py);
    under a watched training job that made training 20-70x slower."""
    from cnn.runtime import keras

    cleared = []
    monkeypatch.setattr(keras().backend, "clear_session", lambda *a, **k: cleared.append(1))
    at.run()
    at.switch_page("pages/home.py").run()
    assert not at.exception and cleared == []


def test_train_more_continues_the_run_as_a_new_one(at, queue):
    fill(at, **TINY)
    at.button(key="start").click().run()
    first = wait_until_ended(at, queue, the_job(queue, at))
    at.number_input(key="more_epochs").set_value(1).run()
    at.button(key="train_more").click().run()
    more = max(queue.jobs_of(owner_key(at.session_state.token)), key=lambda j: j.created)
    assert more.kind == jobs.MORE and more.base_run == first.run_id
    more = wait_until_ended(at, queue, more)
    assert more.state == jobs.FINISHED, more.error
    run = more.run
    assert run.continued_from == first.run_id and run.config.epochs == 2 and run.name.endswith("+1 epochs")
    assert len(run.history.epoch_end_steps) == 2 and run.history.step[-1] == run.steps


def test_a_setting_repeated_with_three_seeds_runs_as_one_turn(at, queue):
    fill(at, **TINY, seeds=3, run_name="three seeds")
    at.button(key="start").click().run()
    batch = queue.jobs_of(owner_key(at.session_state.token))
    assert [j.config.seed for j in batch] == [0, 1, 2] and len({j.batch for j in batch}) == 1 and batch[0].batch
    assert [j.name for j in batch] == [f"three seeds (seed {s})" for s in range(3)]
    assert any("Run 1 of 3 of this setting" in c.value for c in at.caption)
    with pytest.raises(CnnError, match="already have a training job"):
        queue.submit(batch[0].owner, jobs.TrainConfig(**TINY))  # one student's turn, however many seeds
    for job in batch:
        job = wait_until_ended(at, queue, job)
        assert job.state == jobs.FINISHED, job.error
    assert sorted(r.config.seed for r in list_runs()) == [0, 1, 2]


def test_a_sweep_queues_a_run_per_value_and_charts_them_as_they_finish(at, queue):
    fill(at, **TINY, run_name="dropout sweep")
    at.selectbox(key="sweep_knob").set_value("dropout").run()
    at.text_input(key="sweep_values").input("0.0, 0.5, nonsense").run()
    at.button(key="start_sweep").click().run()
    assert any("'nonsense' is not a value" in e.value for e in at.error)
    at.text_input(key="sweep_values").input("0.0, 0.5").run()
    at.button(key="start_sweep").click().run()
    sweep = queue.jobs_of(owner_key(at.session_state.token))
    assert [j.config.dropout for j in sweep] == [0.0, 0.5] and sweep[0].experiment.startswith("sweep:dropout:")
    for job in sweep:
        job = wait_until_ended(at, queue, job)
        assert job.state == jobs.FINISHED, job.error
    chart = charts(at)["sweep_chart"]
    assert sorted(chart["data"][0]["x"]) == [0.0, 0.5] and len(chart["data"][0]["y"]) == 2
    (table,) = [d.value for d in at.dataframe if "drawn digits" in d.value.columns]
    assert len(table) == 2 and table["drawn digits"].between(0, 1).all()
