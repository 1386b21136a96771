"""A zone's first state: the checks a start must pass, and a recorded past imported as it was.

A start cannot be refused by an Update validator, so its checks run in the API/CLI before the
workflow starts, and again at the top of the workflow. A zone that already did things on paper
enters with its past, in the phase its documents put it in, and sends no copies again.
"""

from __future__ import annotations

from datetime import datetime

from .. import acts as A
from ..actor import Actor, Role
from ..eligibility import check as eligibility_check
from ..notice import Notice
from ..zone import (
    Agreement,
    AgreementStatus,
    EligibilityOverride,
    Vision,
    VisionStatus,
    ZoneState,
)
from .common import add_timeline, compute_phase, refuse
from .declaration import _declaration_copies


def validate_start(start: A.StartZone) -> None:
    """What the client checks before it starts a zone's workflow (a start cannot be refused by a
    validator, so this runs in the API/CLI, and again at the top of the workflow)."""
    if start.declaration is None and start.past is not None:
        raise refuse("移行データには中心市宣言が必要です", "a recorded past needs its declaration")
    if start.declaration is not None:
        verdict = eligibility_check(start.programme, start.central_cities, start.travel_minutes)
        if not verdict.eligible and not start.override_reason:
            failed = "; ".join(r.detail for r in verdict.reasons if not r.passed)
            raise refuse(
                f"{start.programme.hub_ja}の要件を満たしていません: {failed}。"
                "総務省の担当者が理由を記して例外を認めることができます",
                f"the central city does not meet the requirements: {failed}",
            )
        if start.override_reason and start.started_by.role is not Role.ministry:
            raise refuse("要件の例外は総務省のみが認められます", "only the ministry may override eligibility")
    if start.past is not None:
        _validate_past(start, start.past)


def _validate_past(start: A.StartZone, past: A.RecordedPast) -> None:
    """A recorded past must describe a zone that can exist: otherwise the zone would sit in a
    phase its documents contradict (a published vision in the agreements phase)."""
    central = {m.code for m in start.central_cities}
    if start.single_city:
        if past.agreements:
            raise refuse(
                f"単独の合併市による圏域は協定ではなく{start.programme.policy_ja}を定めます",
                "a single-city zone has a policy, not agreements",
            )
    elif past.policy_adopted_on is not None:
        raise refuse(
            f"{start.programme.policy_ja}は単独の合併市による圏域のみが定めます",
            "only a single-city zone adopts a policy",
        )
    for pa in past.agreements:
        hub = pa.hub_code or start.central_cities[0].code
        if hub not in central or pa.neighbour.code == hub:
            raise refuse(
                f"移行データの協定({pa.neighbour.name})の当事者が{start.programme.hub_ja}と一致しません",
                f"past agreement with {pa.neighbour.code} does not name a central city as its party",
            )
    codes = [pa.neighbour.code for pa in past.agreements]
    if len(set(codes)) != len(codes):
        raise refuse("移行データに同じ市町村との協定が重複しています", "duplicate past agreements")
    formed = bool(past.agreements) or past.policy_adopted_on is not None
    if past.vision is not None and not formed:
        raise refuse(
            "公表済みのビジョンには締結済みの協定(または形成方針)が必要です",
            "a published vision needs a concluded agreement or an adopted policy",
        )


def initial_state(start: A.StartZone, now: datetime) -> tuple[ZoneState, list[Notice]]:
    state = ZoneState(
        zone_id=start.zone_id,
        programme=start.programme,
        name=start.name,
        central_cities=start.central_cities,
        single_city=start.single_city,
        travel_minutes=start.travel_minutes,
        reminders=start.reminders,
        imported=start.past is not None,
    )
    add_timeline(state, "start", start.started_by, f"{state.name}のワークフローを開始", now, None)
    if start.override_reason:
        state.override = EligibilityOverride(reason=start.override_reason, by=start.started_by, at=now)
        add_timeline(
            state,
            "override_eligibility",
            start.started_by,
            f"要件の例外を承認: {start.override_reason}",
            now,
            None,
        )
    notices: list[Notice] = []
    if start.declaration is not None:
        state.eligibility = eligibility_check(start.programme, start.central_cities, start.travel_minutes)
        state.declaration = start.declaration
        hub_actor = Actor(role=Role.municipality, code=state.hub.code, name=state.hub.name)
        add_timeline(
            state,
            "declare",
            hub_actor,
            f"{state.programme.declaration_ja}を公表",
            now,
            start.declaration.declared_on,
        )
        if start.past is None:
            notices = _declaration_copies(state, now)
    if start.past is not None:
        _import_past(state, start.past, start.started_by, now)
    state.phase = compute_phase(state)
    return state, notices


def _import_past(state: ZoneState, past: A.RecordedPast, actor: Actor, now: datetime) -> None:
    for pa in past.agreements:
        hub = pa.hub_code or state.hub.code
        ag = Agreement(
            hub_code=hub,
            neighbour=pa.neighbour,
            title=pa.title or state.programme.agreement_ja,
            initiatives=pa.initiatives,
            notice_period_months=pa.notice_period_months,
            drafted_on=pa.concluded_on,
            status=AgreementStatus.concluded,
            concluded_on=pa.concluded_on,
        )
        state.agreements[pa.neighbour.code] = ag
        state.formed_on = min(filter(None, [state.formed_on, pa.concluded_on]))
        add_timeline(
            state,
            "import_agreement",
            actor,
            f"{pa.neighbour.name}との{state.programme.agreement_ja}(締結済・移行)",
            now,
            pa.concluded_on,
        )
    if past.policy_adopted_on is not None and state.single_city:
        on = past.policy_adopted_on
        state.policy = Agreement(
            hub_code=state.hub.code,
            neighbour=state.hub,
            title=state.programme.policy_ja,
            initiatives=[],
            drafted_on=on,
            status=AgreementStatus.concluded,
            concluded_on=on,
        )
        state.formed_on = on
        add_timeline(
            state, "import_policy", actor, f"{state.programme.policy_ja}(移行)", now, past.policy_adopted_on
        )
    if past.vision is not None:
        pv = past.vision
        vision = Vision(
            version=1,
            title=pv.title,
            future_image=pv.future_image,
            initiatives=pv.initiatives or [],
            kpis=pv.kpis,
            period_start_fy=pv.period_start_fy,
            period_end_fy=pv.period_end_fy,
            drafted_on=pv.published_on,
            status=VisionStatus.published,
            published_on=pv.published_on,
        )
        state.visions.append(vision)
        for k in pv.kpis:
            state.kpis[k.id] = k.model_copy(deep=True)
        add_timeline(state, "import_vision", actor, f"{pv.title}(公表済・移行)", now, pv.published_on)
