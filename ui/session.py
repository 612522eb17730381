"""Who this browser session is: jobs and drawings belong to it."""

from __future__ import annotations

import secrets

import streamlit as st


def owner() -> str:
    """This browser session's id, made on its first run."""
    if "owner" not in st.session_state:
        st.session_state.owner = secrets.token_hex(8)
    return st.session_state.owner
