"""What happens when things go wrong: stops, closed tabs, crashes while saving, full disks,
damaged data, a full queue. The README's fault table points at these tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from cnn import data, jobs, store
from cnn.config import TrainConfig
from cnn.errors import CnnError
from cnn.jobs import CANCELLED, FAILED, FINISHED, INTERRUPTED, RUNNING, STOPPED, JobQueue

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LONG = TrainConfig(epochs=5, train_size=6000, batch_size=32, filters=8, dense_units=32)
SHORT = TrainConfig(epochs=1, train_size=2000, batch_size=64, filters=8, dense_units=32)


def wait_until(predicate, timeout=180.0, touch=None):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        if touch:
            touch()
        time.sleep(0.05)


def wait_for(queue, job, predicate, *owners, timeout=180.0):
    """The job, read afresh until ``predicate`` holds for it; ``owners`` keep watching meanwhile."""
    seen = [job]

    def check():
        seen[0] = queue.get(job.id)
        return predicate(seen[0])

    wait_until(check, timeout, touch=lambda: [queue.touch(o) for o in owners])
    return seen[0]


def ended(job):
    return job.ended


def training(job):
    return job.state == RUNNING and job.snapshot is not None


def worker_pids(queue) -> list[int]:
    return [r["pid"] for r in queue.db.read("SELECT pid FROM workers")]


@pytest.fixture
def queue(runs_dir):
    q = JobQueue(workers=1, abandon_after=120.0, runs_root=runs_dir)
    yield q
    q.shutdown()


def test_stop_mid_epoch_keeps_and_saves_what_was_learned(queue, runs_dir):
    job = queue.submit("alice", LONG, "stopped by hand")
    wait_for(queue, job, lambda j: j.snapshot is not None and j.snapshot.step >= 150, "alice")
    queue.stop(job)
    assert queue.get(job.id).stopping
    job = wait_for(queue, job, ended, "alice")
    assert job.state == STOPPED and job.stop_reason == "stopped by you"
    assert job.run.status == "stopped" and job.run.steps < LONG.epochs * LONG.steps_per_epoch
    assert job.outcome.stopped and job.outcome.steps == job.run.steps == job.history.step[-1]
    assert [r.id for r in store.list_runs(runs_dir)] == [job.run.id]
    assert job.run.test_accuracy > 0.5


def test_a_closed_tab_stops_its_running_job_which_is_still_saved(runs_dir):
    queue = JobQueue(workers=1, abandon_after=1.0, runs_root=runs_dir)
    try:
        job = queue.submit("bob", LONG)
        waiting = queue.submit("bea", LONG)
        wait_for(queue, job, training, "bob")  # then the tabs are closed: nobody touches
        job, waiting = wait_for(queue, job, ended), wait_for(queue, waiting, ended)
    finally:
        queue.shutdown()
    assert job.state == STOPPED and "nobody was watching" in job.stop_reason
    assert job.run is not None and job.run.status == "stopped"
    assert waiting.state == CANCELLED and waiting.run is None  # it never started: nothing to lose


def test_a_watched_job_is_not_abandoned(runs_dir):
    queue = JobQueue(workers=1, abandon_after=1.0, runs_root=runs_dir)
    try:
        job = queue.submit("carol", TrainConfig(epochs=2, train_size=3000, batch_size=32, filters=8))
        job = wait_for(queue, job, ended, "carol")
    finally:
        queue.shutdown()
    assert job.state == FINISHED and job.stop_reason is None


def test_jobs_wait_their_turn_and_each_session_sees_only_its_own(queue):
    first = queue.submit("dave", LONG)
    second = queue.submit("erin", LONG)
    wait_for(queue, first, training, "dave", "erin")
    assert queue.position(second) == 1 and queue.get(second.id).state == "queued"
    assert [j.id for j in queue.jobs_of("dave")] == [first.id] and [j.id for j in queue.jobs_of("erin")] == [second.id]
    queue.stop(second)
    assert queue.get(second.id).state == CANCELLED and queue.position(second) == 0
    queue.stop(first)


def test_a_full_queue_refuses_more_jobs(runs_dir):
    queue = JobQueue(workers=1, max_queued=2, runs_root=runs_dir)
    try:
        jobs = [queue.submit("frank", LONG)]
        wait_for(queue, jobs[0], lambda j: j.state == RUNNING, "frank")
        jobs += [queue.submit(who, LONG) for who in ("fay", "fred")]  # one runs, two wait
        with pytest.raises(CnnError, match="queue is full"):
            queue.submit("flo", LONG)
        for job in jobs:
            queue.stop(job)
    finally:
        queue.shutdown()


def test_a_full_disk_keeps_the_model_for_a_retry_and_earlier_runs_intact(tiny_result, runs_dir, tmp_path):
    earlier = store.save_run(tiny_result[0], "earlier", runs_dir)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the runs folder should be")  # every write below it fails
    queue = JobQueue(workers=1, runs_root=blocked / "runs", db_path=tmp_path / "jobs" / "jobs.db")
    try:
        job = queue.submit("gina", TrainConfig(epochs=1, train_size=3000, batch_size=32, filters=8))
        job = wait_for(queue, job, ended, "gina")
        assert job.state == FINISHED and job.run is None and job.outcome.test.accuracy > 0.5
        assert "Could not save the run" in job.error and "still usable" in job.error
        assert [r.id for r in store.list_runs(runs_dir)] == [earlier.id]
        queue.runs_root = runs_dir  # the teacher frees space / fixes the folder
        saved = queue.save(job)
        assert queue.get(job.id).error is None and queue.get(job.id).run.id == saved.id
        assert {r.id for r in store.list_runs(runs_dir)} == {earlier.id, saved.id}
        x, y = data.load_mnist().x_test[:200], data.load_mnist().y_test[:200]
        model = store.load_model(saved)
        assert np.mean(np.asarray(model(x.astype(np.float32)[..., None] / 255)).argmax(1) == y) > 0.5
        assert not list((tmp_path / "jobs" / ".pending-models").iterdir())  # the kept model is gone
    finally:
        queue.shutdown()


def test_damaged_mnist_fails_the_job_with_a_clear_message(queue, tmp_path, monkeypatch):
    bad = tmp_path / "mnist.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    monkeypatch.setenv("MNIST_PATH", str(bad))  # the worker, started by the submit, inherits it
    job = queue.submit("hank", TrainConfig(epochs=1, train_size=3000, batch_size=32))
    job = wait_for(queue, job, ended, "hank")
    assert job.state == FAILED and "cannot be read" in job.error and "MNIST_PATH" in job.error


def test_a_crashed_worker_fails_its_job_clearly_and_the_queue_goes_on(queue, runs_dir):
    doomed = queue.submit("ivan", LONG)
    after = queue.submit("iris", SHORT)
    wait_for(queue, doomed, training, "ivan", "iris")
    (pid,) = worker_pids(queue)
    # The trainer yields the CPU to page reruns (field 19 of /proc/PID/stat is the niceness).
    niceness = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])
    assert niceness >= min(os.nice(0) + jobs.WORKER_NICENESS, 19)
    os.kill(pid, signal.SIGKILL)  # out of memory, say
    doomed = wait_for(queue, doomed, ended, "ivan", "iris")
    assert doomed.state == FAILED and "trainer process stopped unexpectedly" in doomed.error
    after = wait_for(queue, after, ended, "iris")  # a new worker took the next job
    assert after.state == FINISHED and after.run is not None
    assert worker_pids(queue) != [pid]


def test_a_job_running_when_the_server_stops_is_reported_interrupted_and_the_queue_survives(runs_dir):
    before = JobQueue(workers=1, runs_root=runs_dir)
    running = before.submit("jack", LONG)
    waiting = before.submit("jill", SHORT)
    wait_for(before, running, training, "jack", "jill")
    (pid,) = worker_pids(before)
    os.kill(pid, signal.SIGKILL)  # the machine goes down: the server and its trainer with it
    wait_until(lambda: not jobs._alive(pid, jobs.HOST))  # (a signal takes a moment to land)
    before.close()

    after = JobQueue(workers=1, runs_root=runs_dir)  # the server starts again, on the same database
    try:
        running = after.get(running.id)
        assert running.state == INTERRUPTED and "server stopped while this job was training" in running.error
        assert running.history.step, "what it showed before is still there"
        waiting = wait_for(after, waiting, ended, "jill")
        assert waiting.state == FINISHED and waiting.run is not None
    finally:
        after.shutdown()


def test_two_web_processes_share_one_queue_and_one_trainer(runs_dir):
    first, second = JobQueue(workers=1, runs_root=runs_dir), JobQueue(workers=1, runs_root=runs_dir)
    try:
        job = first.submit("kim", LONG)
        assert [j.id for j in second.jobs_of("kim")] == [job.id]
        with pytest.raises(CnnError, match="already have a training job"):
            second.submit("kim", LONG)  # the same student through the other process
        other = second.submit("kai", SHORT)
        assert [j.id for j in first.active()] == [job.id, other.id]
        trainers = set()

        def training_alone(j):
            pids = worker_pids(first)
            trainers.update(pids)
            assert len(pids) <= 1, "a second trainer started"
            return training(j)

        wait_for(second, job, training_alone, "kim", "kai")
        second.stop(job)  # the teacher's Stop, say, through the other process
        job = wait_for(first, job, ended, "kim", "kai")
        assert job.state == STOPPED and job.run is not None
        other = wait_for(second, other, lambda j: training_alone(j) or j.ended, "kim", "kai")
        assert wait_for(first, other, ended, "kai").state == FINISHED
        assert len(trainers) == 1, "one trainer did both"
    finally:
        first.close()
        second.shutdown()


KILLED_SAVE = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from cnn import store
    from cnn.train import train
    from cnn.config import TrainConfig

    root = Path(sys.argv[1])
    result = train(TrainConfig(epochs=1, train_size=600, batch_size=32, filters=4, dense_units=16))
    store.save_run(result, "complete", root)
    real_save = result.model.save

    def slow_save(path):
        real_save(path)
        Path(path).write_bytes(Path(path).read_bytes()[:1000])  # half-written
        print("SAVING", flush=True)
        time.sleep(600)  # killed here

    result.model.save = slow_save
    store.save_run(result, "half", root)
    """
)


def test_sigkill_while_saving_leaves_earlier_runs_loadable_and_no_half_run(tmp_path):
    root = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_SAVE, str(root)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "SAVING"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        proc.kill()
    runs = store.list_runs(root)
    assert [r.name for r in runs] == ["complete"] and runs[0].damaged is None
    store.load_model(runs[0])  # every earlier run loads
    leftovers = [p.name for p in root.iterdir() if p.name.startswith(".tmp-")]
    assert len(leftovers) == 1  # the half-written folder, hidden from listings, swept later


@pytest.mark.parametrize(
    "canvas",
    [
        np.zeros((0, 0, 4), np.uint8),  # empty
        np.zeros((1, 1, 4), np.uint8),  # one pixel, blank
        np.full((1, 1, 4), 255, np.uint8),  # one pixel of ink
        np.full((280, 280, 4), 255, np.uint8),  # all black, opaque
        np.zeros((280, 280, 4), np.uint8),  # all transparent
        np.zeros((280, 280, 2), np.uint8),  # wrong channels
        np.zeros((280,), np.uint8),  # wrong rank
        np.zeros((280, 280, 4), np.float64) + np.nan,  # not numbers
    ],
)
def test_hostile_canvas_data_is_no_digit_or_a_clear_error(canvas, good_run):
    from cnn.predict import classifier_for

    classifier = classifier_for(good_run)
    try:
        assert classifier.classify(canvas) is None
    except CnnError as exc:
        assert str(exc)


def test_a_student_has_one_job_at_a_time_however_many_tabs(queue):
    first = queue.submit("gus", LONG)
    with pytest.raises(CnnError, match="already have a training job"):
        queue.submit("gus", LONG)  # the same student from a second tab
    teachers = [queue.submit("teacher", LONG, one_at_a_time=False) for _ in range(2)]
    assert [j.owner for j in queue.active()] == ["gus", "teacher", "teacher"]
    queue.stop(first)
    wait_for(queue, first, ended, "gus")
    again = queue.submit("gus", LONG)  # once it has ended, the next one may start
    for job in (again, *teachers):
        queue.stop(job)
