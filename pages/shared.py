"""What every page shares: who this session is, and the sidebar view of its jobs."""

from __future__ import annotations

import secrets

import streamlit as st

from cnn.jobs import RUNNING, QUEUED, job_queue

HEARTBEAT_SECONDS = 1.0


def _leave_pages_folder_mode() -> None:
    """Run every page inside app.py's frame, even the first request after a start.

    Because the app has a pages/ folder, a freshly started server runs each page script
    on its own (Streamlit's old multipage mode) until app.py has called st.navigation
    once. A first visit to /draw would then miss the frame: layout, sidebar, heartbeat.
    This module is first imported either by app.py or, in that old mode, by a page; in
    the second case switch the mode off and rerun, so app.py runs and routes to the page.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


_leave_pages_folder_mode()


def _keep_keras_session() -> None:
    """Stop Streamlit from clearing keras' global session after every script run.

    Once keras is imported, Streamlit calls ``keras.backend.clear_session()`` at the end
    of every run, fragment runs included (``_clean_problem_modules`` in
    streamlit/runtime/scriptrunner/script_runner.py; it also closes matplotlib figures,
    which this app does not use). Here models outlive runs: a training job in a worker
    thread, the Draw page's cached classifiers. Clearing TensorFlow's kernel cache under
    a running fit, several times a second while its page is watched, made training
    20-70x slower (22-200 instead of ~1,600 images/s in the browser).
    """
    from streamlit.runtime.scriptrunner import script_runner

    if hasattr(script_runner, "_clean_problem_modules"):
        script_runner._clean_problem_modules = lambda: None


_keep_keras_session()


def owner() -> str:
    """This browser session's id: jobs and drawings belong to it."""
    if "owner" not in st.session_state:
        st.session_state.owner = secrets.token_hex(8)
    return st.session_state.owner


def active_jobs():
    return [j for j in job_queue().jobs_of(owner()) if j.state in (QUEUED, RUNNING)]


def sidebar_jobs() -> None:
    """While this session has jobs, show them on every page and tell the queue we are watching."""
    job_queue().touch(owner())
    if active_jobs():
        with st.sidebar:
            _job_status()


@st.fragment(run_every=HEARTBEAT_SECONDS)
def _job_status() -> None:
    queue = job_queue()
    queue.touch(owner())  # the heartbeat: a closed tab stops calling this
    for job in queue.jobs_of(owner()):
        if job.state == QUEUED:
            st.caption(f"Training job waiting: number {queue.position(job)} in the queue")
        elif job.state == RUNNING and job.snapshot:
            s = job.snapshot
            st.progress(s.fraction, text=f"Training: {s.fraction:.0%}, epoch {s.epoch}/{s.epochs}")
        elif job.state == RUNNING:
            st.caption("Training is starting…")
