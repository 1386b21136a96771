"""From an act to its rules: `check` says whether it may happen now, `perform` checks and applies
it, then records it on the timeline and recomputes the phase.

Every act is checked the same way whichever module holds its rules, so the order of the
checks, a duplicate's answer and the timeline entry are decided here once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from .. import acts as A
from ..zone import ZoneState
from .abolition import _apply_abolition, _check_abolition
from .agreements import (
    _apply_draft_agreement,
    _apply_resolution,
    _check_draft_agreement,
    _check_resolution,
)
from .common import Outcome, add_timeline, compute_phase, refuse
from .declaration import _apply_declare, _apply_override, _check_declare, _check_override
from .pdca import (
    _apply_action,
    _apply_actuals,
    _apply_check,
    _apply_plan,
    _apply_projects,
    _apply_review_fy,
    _check_action,
    _check_actuals,
    _check_check,
    _check_plan,
    _check_projects,
    _check_review_fy,
)
from .policy import _apply_policy, _check_policy
from .vision import (
    _apply_consultation,
    _apply_draft_vision,
    _apply_publish,
    _apply_review,
    _check_consultation,
    _check_draft_vision,
    _check_publish,
    _check_review,
)

Check = Callable[[ZoneState, Any, date], bool]
Apply = Callable[[ZoneState, Any, datetime], Outcome]

RULES: dict[type, tuple[str, Check, Apply]] = {
    A.Declare: ("declare", _check_declare, _apply_declare),
    A.OverrideEligibility: ("override_eligibility", _check_override, _apply_override),
    A.DraftAgreement: ("draft_agreement", _check_draft_agreement, _apply_draft_agreement),
    A.RecordResolution: ("record_resolution", _check_resolution, _apply_resolution),
    A.NotifyAbolition: ("notify_abolition", _check_abolition, _apply_abolition),
    A.AdoptPolicy: ("adopt_policy", _check_policy, _apply_policy),
    A.DraftVision: ("draft_vision", _check_draft_vision, _apply_draft_vision),
    A.RecordCouncilReview: ("record_council_review", _check_review, _apply_review),
    A.AnswerConsultation: ("answer_consultation", _check_consultation, _apply_consultation),
    A.PublishVision: ("publish_vision", _check_publish, _apply_publish),
    A.RecordPlan: ("record_plan", _check_plan, _apply_plan),
    A.RecordProjects: ("record_projects", _check_projects, _apply_projects),
    A.RecordKpiActuals: ("record_kpi_actuals", _check_actuals, _apply_actuals),
    A.CompleteCheck: ("complete_check", _check_check, _apply_check),
    A.CompleteAction: ("complete_action", _check_action, _apply_action),
}


def check(state: ZoneState, act: A.Act, today: date) -> bool:
    """Raise ActRefused if the act may not happen now; return True if it is a duplicate."""
    if not isinstance(act, A.ReviewFiscalYear) and type(act) not in RULES:
        # e.g. an Update called with a null payload: refuse it clearly, never crash on it
        raise refuse("操作の内容を読み取れません(空の入力です)", f"not an act: {type(act).__name__}")
    if isinstance(act, A.ReviewFiscalYear):
        return _check_review_fy(state, act, today)
    if state.ended_on is not None:
        raise refuse("この圏域は終了しています", "this zone has ended")
    return RULES[type(act)][1](state, act, today)


def perform(state: ZoneState, act: A.Act, now: datetime, today: date) -> Outcome:
    """Check, then apply: the state changes only if the act is allowed and new."""
    if check(state, act, today):
        return Outcome("同じ内容の操作は登録済みです(重複)", duplicate=True)
    name = "review_fiscal_year" if isinstance(act, A.ReviewFiscalYear) else RULES[type(act)][0]
    if isinstance(act, A.ReviewFiscalYear):
        outcome = _apply_review_fy(state, act, now, today)
    else:
        outcome = RULES[type(act)][2](state, act, now)
    state.version += 1
    add_timeline(state, name, act.actor, outcome.summary, now, outcome.on)
    state.phase = compute_phase(state)
    return outcome
