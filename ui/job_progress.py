"""The one job-progress widget: waiting, starting, training (progress, Stop, live curves).

Every place that follows a training job (the sidebar on every page, the Train page, the
Draw page's "train one for me") shows it through ``follow_job``: a fragment that reads the
job afresh from the queue (the worker process writes its progress there), redraws itself
while the job lasts, tells the queue someone is watching (the heartbeat: a closed tab stops
calling it, and its job is then stopped and saved), and reruns the whole page once the job
has ended, so the page can show the results.
"""

from __future__ import annotations

import streamlit as st

from cnn import budget, classroom
from cnn.config import TrainConfig
from cnn.errors import CnnError
from cnn.jobs import QUEUED, RUNNING, TRAIN, Job, job_queue
from cnn.records import Snapshot
from cnn.store import list_runs
from ui import charts
from ui.session import is_teacher, nickname, owner

REDRAW_SECONDS = 0.5  # live curves: twice a second
SIDEBAR_SECONDS = 1.0


def active_jobs() -> list[Job]:
    """This session's jobs that are waiting or training, oldest first."""
    return [j for j in job_queue().jobs_of(owner()) if j.state in (QUEUED, RUNNING)]


def budget_problem(config: TrainConfig) -> str | None:
    """Why a student may not start ``config`` (the teacher's time budget); None for the teacher."""
    if is_teacher():
        return None
    return budget.over_budget(config, classroom.class_settings().budget_minutes, budget.machine_speed(list_runs()))


def start_job(
    config: TrainConfig, name: str | None = None, experiment: str = "", kind: str = TRAIN, base_run: str = ""
) -> Job:
    """Queue a job as this student's: one at a time and within the budget (the teacher: any).
    ``kind`` and ``base_run``: see ``JobQueue.submit`` (train more, teach the class's drawings)."""
    problem = budget_problem(config)
    if problem:
        raise CnnError(problem)
    return job_queue().submit(
        owner(),
        config,
        name,
        owner_name=nickname(),
        experiment=experiment,
        one_at_a_time=not is_teacher(),
        kind=kind,
        base_run=base_run,
    )


def start_repeats(config: TrainConfig, seeds: int, name: str | None = None) -> list[Job]:
    """Queue one setting with ``seeds`` seeds as this student's one turn (each run within the budget)."""
    problem = budget_problem(config)
    if problem:
        raise CnnError(problem)
    return job_queue().submit_repeats(
        owner(), config, seeds, name, owner_name=nickname(), one_at_a_time=not is_teacher()
    )


def start_sweep(jobs: list[tuple[TrainConfig, str]], tag: str) -> list[Job]:
    """Queue a sweep's runs as this student's one turn (each run within the budget)."""
    for config, _ in jobs:
        if problem := budget_problem(config):
            raise CnnError(problem)
    return job_queue().submit_batch(owner(), jobs, owner_name=nickname(), one_at_a_time=not is_teacher(), tag=tag)


def duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def progress_text(s: Snapshot, detailed: bool) -> str:
    if not detailed:
        return f"Training: {s.fraction:.0%}, epoch {s.epoch}/{s.epochs}, about {duration(s.eta)} left"
    return (
        f"{s.fraction:.0%} · epoch {s.epoch}/{s.epochs} · step {s.step}/{s.total_steps} · "
        f"{s.images_per_s:,.0f} images/s · about {duration(s.eta)} left"
    )


def curves(job: Job, key: str) -> None:
    """The job's loss and accuracy curves side by side (nothing before its first step)."""
    if not job.history.step:
        return
    left, right = st.columns(2)
    left.plotly_chart(charts.training_curves(job.history, "loss"), key=f"{key}_loss")
    right.plotly_chart(charts.training_curves(job.history, "accuracy"), key=f"{key}_accuracy")


def job_status(job: Job, detailed: bool) -> None:
    """Where the job is now; ``detailed`` adds this step's numbers, Stop and the live curves."""
    queue = job_queue()
    if job.state == QUEUED:
        st.info(f"Waiting for the trainer: number {queue.position(job)} in the queue.")
    elif job.snapshot is None:
        st.info("Starting: loading TensorFlow and building the model…")
    else:
        s = job.snapshot
        st.progress(s.fraction, text=progress_text(s, detailed))
        if detailed:
            val = f", validation accuracy {s.val_accuracy:.1%}" if s.val_accuracy is not None else ""
            st.caption(f"This step: loss {s.loss:.3f}, accuracy {s.accuracy:.1%}{val}")
    if not detailed:
        return
    stopping = job.stopping
    label = "Stopping after this step…" if stopping else "Cancel" if job.state == QUEUED else "Stop"
    st.button(
        label,
        key="stop",
        on_click=queue.stop,
        args=(job,),
        disabled=stopping,
        help="Ends training after the current step; the model so far is tested and saved.",
    )
    curves(job, "live")


def follow_job(job: Job, detailed: bool = False) -> None:
    """The live widget for ``job`` (see the module docstring)."""
    every = REDRAW_SECONDS if detailed else SIDEBAR_SECONDS

    @st.fragment(run_every=every)
    def live() -> None:
        queue = job_queue()
        queue.touch(owner())
        now = queue.get(job.id)
        if now is None or now.ended:
            st.rerun(scope="app")
        job_status(now, detailed)

    live()


def sidebar() -> None:
    """Every page: while this session has a job waiting or training, follow it in the sidebar."""
    job_queue().touch(owner())
    jobs = active_jobs()
    if jobs:
        with st.sidebar:
            follow_job(jobs[0])  # the one training (or next), of several queued together
