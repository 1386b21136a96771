"""ZoneState.archive_timeline and whole_timeline (TIMELINE_ARCHIVE_PATCH): a run's entries
packed at continue-as-new come back whole, in order, through the payload a run hands on."""

from __future__ import annotations

from pydantic import TypeAdapter
from temporalio.contrib.pydantic import pydantic_data_converter

from models.read_rows import state_json
from models.zone import TimelineEntry
from tests.test_projection_delta import two_years
from workflows.zone import ZoneInput


def test_packed_runs_unpack_to_the_same_timeline_through_a_continue_as_new_payload() -> None:
    life = two_years()
    state = life.state
    whole = list(state.timeline)
    assert len(whole) > 20
    # three runs' worth: pack, record more as models, pack again
    state.timeline, later = whole[:10], whole[10:]
    state.archive_timeline()
    state.timeline = later[:5]
    state.archive_timeline()
    state.archive_timeline()  # a run that recorded nothing packs nothing
    state.timeline = later[5:]
    assert len(state.timeline_archive) == 2 and state.whole_timeline() == whole
    converter = pydantic_data_converter.payload_converter
    (carried,) = converter.from_payloads(converter.to_payloads([ZoneInput(state=state)]), [ZoneInput])
    assert carried.state is not None and carried.state.whole_timeline() == whole
    assert carried.state.timeline_seq == whole[-1].seq
    # packed, ten entries are one bytes object (which the collector does not scan), and smaller
    raw = TypeAdapter(list[TimelineEntry]).dump_json(whole[:10])
    assert isinstance(state.timeline_archive[0], bytes) and len(state.timeline_archive[0]) * 2 < len(raw)
    # the read model's copy of the state leaves both out: its audit table has the timeline
    assert '"timeline"' not in state_json(state) and '"timeline_archive"' not in state_json(state)
