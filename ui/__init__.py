"""Streamlit helpers shared by the pages (language, project, errors, image grids, job progress).

Lives beside ``app.py``, never inside ``genmix_core`` (which imports no Streamlit). Pages import
``ui.state`` for the session language and project and ``ui.widgets`` for the shared drawing helpers;
``app.py`` imports ``ui.server`` for what the server does once when it starts.
"""
