"""What the pages share: charts, the runs table, the session's owner, the job-progress widget,
and the Streamlit workarounds (installed by ``app.py``). The ML core (``cnn``) never imports it.
"""
