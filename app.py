"""The frame of the app: navigation, the Streamlit workarounds, and the sidebar that follows
your training job.

Run it with ``streamlit run app.py``. Each page is a short script in pages/ that reads
state, calls the cnn library, and draws with what ui/ shares.
"""

import streamlit as st

from ui import frame, workarounds

workarounds.install()
st.set_page_config(page_title="How a CNN reads digits", page_icon="✍️", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("pages/train.py", title="Train", icon="🏋️"),
    st.Page("pages/draw.py", title="Draw", icon="✍️"),
    st.Page("pages/compare.py", title="Compare", icon="📊"),
    st.Page("pages/drawings.py", title="Drawings", icon="🖼️"),
    st.Page("pages/classroom.py", title="Class", icon="🧑‍🏫"),
]
page = st.navigation(PAGES)
frame.sidebar()
page.run()
