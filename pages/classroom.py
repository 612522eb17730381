"""Class: the teacher's question and the class's answers, live, for the projector; who is
training and who is waiting; and, in teacher mode, the class settings.

The experiment: the teacher fixes every knob but one or two ("what does dropout do?"),
every student's Train page follows, and the chart here fills in, one dot per student's
run, as their runs finish.
"""

from __future__ import annotations

import streamlit as st

from cnn import classroom
from cnn.config import DEFAULT_PRESET, PRESETS, knob_range, knobs_in
from cnn.errors import CnnError
from cnn.jobs import QUEUED, job_queue
from cnn.store import list_runs
from ui import charts, runs_table
from ui.frame import enter_app_frame
from ui.session import is_teacher
from ui.text import md

enter_app_frame()

REFRESH_SECONDS = 3.0
KNOBS = [name for group in ("basic", "layout", "fitting", "augmenting") for name in knobs_in(group)]


def _start_experiment() -> None:
    if not is_teacher():
        return
    try:
        classroom.start_experiment(
            st.session_state.experiment_question,
            st.session_state.experiment_free,
            PRESETS[st.session_state.experiment_base],
        )
    except CnnError as exc:
        st.session_state.class_error = str(exc)


def _end_experiment() -> None:
    if is_teacher():
        classroom.end_experiment()


def _save_budget() -> None:
    if is_teacher():
        settings = classroom.class_settings()
        budget = float(st.session_state.budget_minutes)
        classroom.save_class_settings(classroom.ClassSettings(budget, settings.experiment))


def _stop(job) -> None:
    if is_teacher():
        job_queue().stop(job, "stopped by the teacher")


@st.fragment(run_every=REFRESH_SECONDS)
def live() -> None:
    """The experiment's chart and the queue, refreshed for the projector."""
    experiment = classroom.class_settings().experiment
    if experiment is None:
        st.info("No class experiment right now. In teacher mode, start one below.")
    else:
        st.subheader(md(experiment.question), anchor=False)  # the teacher's text, shown literally
        runs = [r for r in list_runs() if not r.damaged and r.experiment == experiment.id]
        points = runs_table.experiment_points(runs, experiment.free)
        free = " and ".join(knob_range(name)["label"].lower() for name in experiment.free)
        if runs:
            labels = {name: knob_range(name)["label"] for name in experiment.free}
            st.plotly_chart(charts.knob_scatter(points, labels, columns=2), key="experiment_chart")
            st.caption(
                f"{len(runs)} run{'s' * (len(runs) != 1)} so far: each dot a student's run, its {free} "
                "against the test accuracy it reached (hover for who)."
            )
        else:
            st.caption(f"Waiting for the first run: each student picks a {free} on the Train page and presses Start.")
    queue_table()


def queue_table() -> None:
    jobs = job_queue().active()
    st.subheader("Training now", anchor=False)
    if not jobs:
        st.caption("Nobody is training.")
        return
    for job in jobs:
        who, what, action = st.columns([2, 4, 1], vertical_alignment="center")
        who.text(job.owner_name or "the teacher")  # user text: plain text
        if job.state == QUEUED:
            what.caption(f"waiting: number {job_queue().position(job)} in the queue")
        elif job.snapshot is not None:
            what.progress(job.snapshot.fraction, text=f"training: {job.snapshot.fraction:.0%}")
        else:
            what.caption("starting")
        if is_teacher():
            action.button(
                "Cancel" if job.state == QUEUED else "Stop",
                key=f"stop_{job.id}",
                on_click=_stop,
                args=(job,),
                disabled=job.stopping,
            )


def teacher_settings() -> None:
    st.divider()
    st.subheader("Class settings (teacher)", anchor=False)
    settings = classroom.class_settings()
    st.number_input(
        "Longest job a student may start (minutes, estimated)",
        0.5,
        600.0,
        settings.budget_minutes,
        step=0.5,
        key="budget_minutes",
        on_change=_save_budget,
        help="Estimated from the model's size and this server's measured speed, shown beside Start.",
    )
    if settings.experiment is None:
        with st.form("experiment_form"):
            st.text_input("Question", "What does dropout do?", key="experiment_question", max_chars=200)
            st.multiselect(
                "Knobs the students choose (one or two)",
                KNOBS,
                default=["dropout"],
                key="experiment_free",
                max_selections=classroom.MAX_FREE_KNOBS,
                format_func=lambda name: knob_range(name)["label"],
            )
            st.selectbox(
                "Every other knob as in",
                list(PRESETS),
                index=list(PRESETS).index(DEFAULT_PRESET),
                key="experiment_base",
            )
            st.form_submit_button("Start the experiment", on_click=_start_experiment, type="primary")
        if "class_error" in st.session_state:
            st.error(st.session_state.pop("class_error"))
    else:
        st.write(f"Running: **{md(settings.experiment.question)}**")
        st.button("End the experiment", key="end_experiment", on_click=_end_experiment)


st.title("Class")
live()
if is_teacher():
    teacher_settings()
else:
    st.caption("The teacher sets the class's experiment and limits here, in teacher mode (sidebar).")
