"""The page's parts and the limits of its links, declared once for both hosts (the page
reads them as JSON: ``app/interactive.py``'s ``page_data``).

The link format itself (scenario, settings by their address names, ``flipped``,
``events=STEP:KIND:VALUE``, ``step``, ``hide``, ``autoplay``, ``theme``) is read and
written by ``app/ui/address.js``.
"""

from __future__ import annotations

from ..sim.settings import SETTINGS

#: Parts of the page a teacher can hide with ``hide=``: whole parts of the page, and each
#: control a setting allows to be hidden, by its address name (``sliders`` hides them all).
PARTS = ("sliders", "picker", "watch", "download", "pairs", "pulls", "charts", "log",
         "formula", "readouts", "share", "try", "learn", "frontier", "sweep", "challenge",
         "features")
HIDEABLE = PARTS + tuple(s.url for s in SETTINGS if s.hideable and s.url)
#: The furthest step a link may ask for, and the most mid-run actions it may carry: a link
#: is replayed on load, so it must stay cheap to open.
MAX_URL_STEP = 20_000
MAX_URL_EVENTS = 500
