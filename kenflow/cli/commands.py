"""Imports every command module so each can register on `app`. One line per module."""

# ruff: noqa: F401, I001
from . import eligibility
from . import kpi
from . import recipients
from . import scheduler
from . import db
from . import run
from . import token
from . import zone
from . import acts
from . import kpi_zone
from . import national
