"""What the workflow sends to the read model after each act.

The state travels without its timeline (which only grows) plus the timeline entries the read
model has not seen yet; the read model keeps the newest version it was sent, so projections
that overtake each other cannot roll it back.

The two sections that grow every fiscal year, KPI actuals (append-only) and the yearly
reviews, are sent only where they changed since the zone's previous projection: `kept` says
which the read model already holds as of `kept.base_version`. After ten years they are two
thirds of the state, and every byte of a projection is encoded in the workflow, stored in the
history and decoded again by the activity. Projections without `kept` carry the whole state
(zones whose histories predate this, the first projection of each run, and a resend when the
read model does not hold the base).
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from pydantic import BaseModel, Field

from .kpi import KpiActual
from .zone import TimelineEntry, ZoneState


class KeptSections(BaseModel):
    """What the read model already holds, as of the projection of `base_version`."""

    base_version: int
    actuals: int = Field(default=0, ge=0)  # the first N KPI actuals; `state.actuals` holds the rest
    reviews: list[int] = Field(default_factory=list)  # fiscal years whose review did not change
    review_order: list[int] = Field(default_factory=list)  # every fiscal year, in the state's order


class ProjectionInput(BaseModel):
    zone_id: str
    version: int
    state: ZoneState
    timeline: list[TimelineEntry]
    kept: KeptSections | None = None

    @classmethod
    def of(cls, state: ZoneState, new_entries: list[TimelineEntry]) -> ProjectionInput:
        return cls(
            zone_id=state.zone_id,
            version=state.version,
            state=state.model_copy(update={"timeline": []}),
            timeline=list(new_entries),
        )


BASE_MISSING = "ProjectionBaseMissing"  # the activity's error type for BaseMissing


class BaseMissing(Exception):
    """The read model does not hold the sections a delta projection keeps (it was rebuilt or
    restored, or another version overtook the base): the workflow sends the whole state."""


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=12).digest()


class SentSections:
    """The workflow's memory of what its last completed projection sent: one digest per
    fiscal year's review and one for the actuals. Digests, not copies, so a cached zone keeps a
    few hundred bytes for this; deterministic, so a replay rebuilds the same memory.

    `delta` builds a projection and what the memory becomes once it completes; `sent` commits
    that. The digests are taken when the projection is built: the state moves on while the
    activity runs, and the memory must describe what the read model received."""

    def __init__(self) -> None:
        self.version: int | None = None
        self.actuals = 0
        self.actuals_digest = b""
        self.reviews: dict[int, bytes] = {}

    def delta(self, state: ZoneState, new_entries: list[TimelineEntry]) -> tuple[ProjectionInput, Sent]:
        """The projection of `state`: whole the first time, else without what is unchanged."""
        inp = ProjectionInput.of(state, new_entries)
        reviews = {fy: _digest(r.__pydantic_serializer__.to_json(r)) for fy, r in state.reviews.items()}
        running = hashlib.blake2b(digest_size=12)
        n = self.actuals if self.version is not None and len(state.actuals) >= self.actuals else 0
        for a in state.actuals[:n]:
            running.update(a.__pydantic_serializer__.to_json(a))
        if running.copy().digest() != self.actuals_digest:
            # not append-only after all (or nothing sent yet): send them all
            running = hashlib.blake2b(digest_size=12)
            prefix: list[KpiActual] = []
        else:
            prefix = state.actuals[:n]
        for a in state.actuals[len(prefix) :]:
            running.update(a.__pydantic_serializer__.to_json(a))
        after = Sent(state.version, len(state.actuals), running.digest(), reviews)
        if self.version is None:
            return inp, after
        kept = [fy for fy, d in reviews.items() if self.reviews.get(fy) == d]
        inp.state = inp.state.model_copy(
            update={
                "actuals": state.actuals[len(prefix) :],
                "reviews": {fy: r for fy, r in state.reviews.items() if fy not in kept},
            }
        )
        inp.kept = KeptSections(
            base_version=self.version, actuals=len(prefix), reviews=kept, review_order=list(state.reviews)
        )
        return inp, after

    def sent(self, after: Sent) -> None:
        """The projection built with `after` completed: the read model now holds it."""
        self.version, self.actuals, self.actuals_digest, self.reviews = after

    def forget(self) -> None:
        """The read model lost the base: the next projection carries the whole state."""
        self.version = None


class Sent(NamedTuple):
    version: int
    actuals: int
    actuals_digest: bytes
    reviews: dict[int, bytes]
