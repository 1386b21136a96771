"""The zone workflow's input.

It lives in models/ (passed through the workflow sandbox) rather than beside the workflow:
a model defined in the workflow module is rebuilt, with the validators of the whole StartZone
and ZoneState it embeds, for every cached workflow instance.
"""

from __future__ import annotations

from pydantic import BaseModel

from .acts import StartZone
from .zone import ZoneState


class ZoneInput(BaseModel):
    """A new zone arrives as `start`; a continued run carries `state`."""

    start: StartZone | None = None
    state: ZoneState | None = None
