"""The app's frame: what every page has around it (the sidebar: who you are, your job).

``app.py`` draws it around the page it routes to. Every page script starts with
``enter_app_frame()``, for the runs that do not go through ``app.py`` (see there).
"""

from __future__ import annotations

import streamlit as st

from ui import job_progress, session


def sidebar() -> None:
    session.sidebar()
    job_progress.sidebar()


def enter_app_frame() -> None:
    """Run this page inside app.py's frame, even on the first request after a server start.

    Because the app has a pages/ folder, a freshly started server runs each page script
    on its own (Streamlit's old multipage mode) until app.py has called st.navigation
    once. A first visit to /draw would then miss the frame: layout, sidebar, workarounds.
    In that mode, switch it off and rerun, so app.py runs and routes to this page.
    A rerun drops the click that caused this run, so it happens once per session at most;
    Streamlit's AppTest starts every run in that mode again, and there the page draws the
    frame's sidebar itself.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if not PagesManager.uses_pages_directory:
        return
    if not st.session_state.get("_entered_app_frame"):
        st.session_state._entered_app_frame = True
        PagesManager.uses_pages_directory = False
        st.rerun()
    sidebar()
