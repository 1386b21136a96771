"""Typed search attributes, so `temporal workflow list --query "KenflowPhase='pdca'"` finds
zones. Registered at server start by `kenflow up` and by the test fixtures."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from models.zone import ZoneState

PHASE = SearchAttributeKey.for_keyword("KenflowPhase")
PROGRAMME = SearchAttributeKey.for_keyword("KenflowProgramme")
CENTRAL_CITIES = SearchAttributeKey.for_keyword_list("KenflowCentralCities")
PREFECTURES = SearchAttributeKey.for_keyword_list("KenflowPrefectures")
FISCAL_YEAR = SearchAttributeKey.for_int("KenflowFiscalYear")

ALL_KEYS = (PHASE, PROGRAMME, CENTRAL_CITIES, PREFECTURES, FISCAL_YEAR)


def zone_search_attributes(state: ZoneState) -> TypedSearchAttributes:
    pairs: list[SearchAttributePair] = [
        SearchAttributePair(PHASE, state.phase.value),
        SearchAttributePair(PROGRAMME, state.programme.value),
        SearchAttributePair(CENTRAL_CITIES, state.central_codes),
        SearchAttributePair(PREFECTURES, state.prefecture_codes()),
    ]
    if state.current_fy is not None:
        pairs.append(SearchAttributePair(FISCAL_YEAR, state.current_fy))
    return TypedSearchAttributes(pairs)
