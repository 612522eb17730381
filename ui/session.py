"""Who is using this page: a student (their owner key and nickname), or the teacher.

A student's identity is a secret token kept in the page address (``?me=...``), so their
runs and their job are still theirs after a reload or in a second tab opened from the
same address; others only ever see the nickname. The teacher unlocks teacher mode with a
passcode: ``CNN_TEACHER_PASSCODE``, else ``teacher_passcode`` in .streamlit/secrets.toml,
else one made when the server first runs the app and printed in its log (the way notebook
servers print their token).
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import secrets
import sys
import threading

import streamlit as st

from cnn import classroom
from cnn.errors import CnnError
from cnn.store import RunInfo

log = logging.getLogger(__name__)
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
_passcode: str | None = None
_passcode_lock = threading.Lock()


def _token() -> str:
    """This browser's secret: from the address, else remembered for the session, else new."""
    state = st.session_state
    given = st.query_params.get("me", "")
    if TOKEN.fullmatch(given):
        state.token = given
    elif "token" not in state:
        state.token = classroom.new_token()
    if st.query_params.get("me") != state.token:
        st.query_params["me"] = state.token  # (page links drop it; put it back)
    return state.token


def owner() -> str:
    """This student's owner key: their jobs and runs carry it."""
    return classroom.owner_key(_token())


def nickname() -> str:
    """The name the class knows this student by ('' until they choose one)."""
    return classroom.nickname_of(owner()) or ""


def teacher_passcode() -> str:
    global _passcode
    with _passcode_lock:
        if _passcode is None:
            _passcode = os.environ.get("CNN_TEACHER_PASSCODE") or _secret() or ""
            if not _passcode:
                _passcode = secrets.token_hex(4)
                message = f"Teacher passcode for this server: {_passcode} (set CNN_TEACHER_PASSCODE to choose one)"
                print(message, file=sys.stderr, flush=True)
                log.warning(message)
        return _passcode


def _secret() -> str | None:
    try:
        value = st.secrets.get("teacher_passcode")
    except Exception:  # no secrets.toml, or a broken one: fall back to a generated passcode
        return None
    return str(value) if value else None


def is_teacher() -> bool:
    return bool(st.session_state.get("teacher"))


def unlock(passcode: str) -> bool:
    """Teacher mode for this session if ``passcode`` is right."""
    ok = hmac.compare_digest(passcode.strip().encode(), teacher_passcode().encode())
    st.session_state.teacher = ok
    return ok


def can_change(run: RunInfo) -> bool:
    """Rename or delete: the teacher any run, a student only their own."""
    return is_teacher() or (bool(run.owner) and run.owner == owner())


def sidebar() -> None:
    """Every page: the student's nickname (chosen once), and the teacher's unlock."""
    teacher_passcode()  # made (and printed in the log) on the first run after a start
    with st.sidebar:
        name = nickname()
        if name:
            st.caption("You are")
            st.text(name)  # user text: shown as text
        else:
            with st.form("nickname_form", border=False):
                typed = st.text_input(
                    "Your nickname",
                    max_chars=classroom.MAX_NICKNAME,
                    help="How the class sees your runs. Chosen once; kept in this page's address.",
                )
                if st.form_submit_button("That's me"):
                    try:
                        classroom.claim_nickname(owner(), typed)
                    except CnnError as exc:
                        st.error(str(exc))
                    else:
                        st.rerun()
        if is_teacher():
            st.success("Teacher mode")
            if st.button("Leave teacher mode", key="leave_teacher"):
                st.session_state.teacher = False
                st.rerun()
        else:
            with st.expander("Teacher"), st.form("teacher_form", border=False):
                code = st.text_input("Passcode", type="password", key="teacher_code")
                if st.form_submit_button("Unlock"):
                    if unlock(code):
                        st.rerun()
                    st.error("That is not the passcode.")
