"""The central city's declaration, and the ministry's exception when the city falls short.

A city that does not meet the programme's requirements cannot declare until the ministry
records why it allows it; once declared, an exception is no longer needed.
"""

from __future__ import annotations

from datetime import date, datetime

from .. import acts as A
from ..actor import Role
from ..eligibility import check as eligibility_check
from ..notice import MIC, Notice, prefecture_recipient
from ..zone import EligibilityOverride, ZoneState
from .common import Outcome, _central_city_act, _not_future, refuse
from .notices import _copies


def _check_declare(state: ZoneState, act: A.Declare, today: date) -> bool:
    if state.declaration is not None:
        if state.declaration == act.declaration:
            return True
        raise refuse("この圏域の宣言は公表済みです", "this zone has already declared")
    _central_city_act(state, act.actor, state.programme.declaration_ja)
    _not_future(act.declaration.declared_on, today, "宣言")
    verdict = eligibility_check(state.programme, state.central_cities, state.travel_minutes)
    if not verdict.eligible and state.override is None:
        failed = "; ".join(r.detail for r in verdict.reasons if not r.passed)
        raise refuse(
            f"{state.programme.hub_ja}の要件を満たしていません: {failed}。総務省が理由を記して例外を認めるまで宣言できません",
            f"the central city does not meet the requirements: {failed}",
        )
    return False


def _apply_declare(state: ZoneState, act: A.Declare, now: datetime) -> Outcome:
    state.declaration = act.declaration
    state.eligibility = eligibility_check(state.programme, state.central_cities, state.travel_minutes)
    notices = _declaration_copies(state, now)
    return Outcome(f"{state.programme.declaration_ja}を公表", notices, on=act.declaration.declared_on)


def _declaration_copies(state: ZoneState, now: datetime) -> list[Notice]:
    """The declaration goes to the central cities' prefectures and to MIC, whether the city
    declares when its zone starts or later."""
    return _copies(
        state,
        "declaration",
        1,
        state.programme.declaration_ja,
        now,
        [prefecture_recipient(m.prefecture_code) for m in state.central_cities] + [MIC],
    )


def _check_override(state: ZoneState, act: A.OverrideEligibility, today: date) -> bool:
    if act.actor.role is not Role.ministry:
        raise refuse("要件の例外は総務省のみが認められます", "only the ministry may override eligibility")
    if state.declaration is not None:
        raise refuse("宣言は公表済みのため例外の承認は不要です", "already declared; no override needed")
    if state.override is not None:
        if state.override.reason == act.reason:
            return True
        raise refuse("例外は承認済みです", "an override is already recorded")
    return False


def _apply_override(state: ZoneState, act: A.OverrideEligibility, now: datetime) -> Outcome:
    state.override = EligibilityOverride(reason=act.reason, by=act.actor, at=now)
    return Outcome(f"要件の例外を承認: {act.reason}")
