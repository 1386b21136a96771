"""What the workflow sends to the read model after each act.

The state travels without its timeline (which only grows) plus the timeline entries the read
model has not seen yet; the read model keeps the newest version it was sent, so projections
that overtake each other cannot roll it back.
"""

from __future__ import annotations

from pydantic import BaseModel

from .zone import TimelineEntry, ZoneState


class ProjectionInput(BaseModel):
    zone_id: str
    version: int
    state: ZoneState
    timeline: list[TimelineEntry]

    @classmethod
    def of(cls, state: ZoneState, new_entries: list[TimelineEntry]) -> ProjectionInput:
        return cls(
            zone_id=state.zone_id,
            version=state.version,
            state=state.model_copy(update={"timeline": []}),
            timeline=list(new_entries),
        )
