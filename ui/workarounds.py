"""Where the app works around Streamlit, each with the reason.

``install()`` is called once per script run by ``app.py``.
"""

from __future__ import annotations

import logging

import streamlit as st

log = logging.getLogger(__name__)


def install() -> None:
    keep_keras_session()


def keep_keras_session() -> None:
    """Stop Streamlit from clearing keras' global session after every script run.

    Once keras is imported, Streamlit calls ``keras.backend.clear_session()`` at the end
    of every run, fragment runs included (``_clean_problem_modules`` in
    streamlit/runtime/scriptrunner/script_runner.py; it also closes matplotlib figures,
    which this app does not use). Here models outlive runs: a training job, the Draw
    page's cached classifiers. Clearing TensorFlow's kernel cache under a running fit,
    several times a second while its page is watched, made training 20-70x slower
    (22-200 instead of ~1,600 images/s in the browser).
    """
    from streamlit.runtime.scriptrunner import script_runner

    if not hasattr(script_runner, "_clean_problem_modules"):
        log.warning(
            "streamlit %s has no script_runner._clean_problem_modules: the keras-session workaround "
            "is not installed; check whether Streamlit still clears keras' session after each run",
            st.__version__,
        )
        return
    script_runner._clean_problem_modules = lambda: None
