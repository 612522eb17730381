"""The frame of the app: navigation, and the sidebar that follows your training jobs.

Run it with ``streamlit run app.py``. Each page is a short script in pages/ that reads
state, calls the cnn library, and draws.
"""

import streamlit as st

from pages import shared

st.set_page_config(page_title="How a CNN reads digits", page_icon="✍️", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("pages/train.py", title="Train", icon="🏋️"),
    st.Page("pages/draw.py", title="Draw", icon="✍️"),
    st.Page("pages/compare.py", title="Compare", icon="📊"),
]
page = st.navigation(PAGES)
shared.sidebar_jobs()
page.run()
