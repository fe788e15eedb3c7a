"""Entry file for ``panel serve app/main.py``: each session runs this and gets its own
dashboard."""

from app.dashboard import create_dashboard

create_dashboard().servable(title="dpo-sim")
