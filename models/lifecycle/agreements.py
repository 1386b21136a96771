"""Agreements between a central city and a neighbour: the draft, then each council's resolution.

An agreement is concluded when the councils of both parties have resolved on it, on the later
of the two dates; the zone is formed by its first concluded agreement. There is one agreement
per neighbour; only an abolished one may be drafted again.
"""

from __future__ import annotations

from datetime import date, datetime

from .. import acts as A
from ..actor import Role
from ..era import format_date_ja  # noqa: I001 (clerks read 和暦 dates)
from ..notice import MIC, Notice, prefecture_recipient
from ..zone import Agreement, AgreementStatus, ZoneState
from .common import (
    Outcome,
    _acting_as,
    _central_city_act,
    _check_initiatives,
    _not_before,
    _not_future,
    _require_declared,
    refuse,
)
from .notices import _copies


def _check_draft_agreement(state: ZoneState, act: A.DraftAgreement, today: date) -> bool:
    _require_declared(state)
    if state.single_city:
        raise refuse(
            f"単独の合併市による圏域は協定ではなく{state.programme.policy_ja}を定めます",
            "a single-city zone adopts a policy instead of agreements",
        )
    _central_city_act(state, act.actor, f"{state.programme.agreement_ja}の案の作成")
    hub = act.hub_code or state.hub.code
    if hub not in state.central_codes:
        raise refuse(
            f"協定の当事者 {hub} はこの圏域の{state.programme.hub_ja}ではありません",
            f"{hub} is not a central city of this zone",
        )
    if act.actor.role is Role.municipality and act.actor.code != hub:
        raise refuse(
            f"協定案は当事者である{state.programme.hub_ja}({hub})が作成します",
            "the central city that signs drafts the agreement",
        )
    code = act.neighbour.code
    if code == hub:
        raise refuse(
            "協定は中心市と別の市町村との1対1で結びます", "an agreement is between two municipalities"
        )
    existing = state.agreements.get(code)
    if existing is not None:
        if (
            existing.status is AgreementStatus.drafted
            and existing.initiatives == act.initiatives
            and existing.drafted_on == act.drafted_on
            and existing.hub_code == hub
        ):
            return True
        if existing.status is not AgreementStatus.abolished:
            raise refuse(
                f"{act.neighbour.name}との協定は既にあります(状態: {existing.status.value})。協定は1市町村につき1つです",
                f"an agreement with {code} already exists",
            )
    _not_future(act.drafted_on, today, "協定案")
    _not_before(
        act.drafted_on, state.declaration.declared_on if state.declaration else None, "協定案", "宣言"
    )
    _check_initiatives(state, act.initiatives, state.programme.agreement_ja)
    return False


def _apply_draft_agreement(state: ZoneState, act: A.DraftAgreement, now: datetime) -> Outcome:
    code = act.neighbour.code
    old = state.agreements.get(code)
    state.agreements[code] = Agreement(
        hub_code=act.hub_code or state.hub.code,
        neighbour=act.neighbour,
        title=act.title or f"{state.programme.agreement_ja}({act.neighbour.name})",
        initiatives=act.initiatives,
        notice_period_months=act.notice_period_months,
        drafted_on=act.drafted_on,
        version=(old.version + 1) if old else 1,
    )
    later = "(新たな加入)" if state.formed_on else ""
    return Outcome(
        f"{act.neighbour.name}との{state.programme.agreement_ja}の案を作成{later}", on=act.drafted_on
    )


def _agreement(state: ZoneState, code: str) -> Agreement:
    ag = state.agreements.get(code)
    if ag is None:
        raise refuse(f"団体コード {code} との協定はありません", f"no agreement with {code}")
    return ag


def _check_resolution(state: ZoneState, act: A.RecordResolution, today: date) -> bool:
    _require_declared(state)
    ag = _agreement(state, act.neighbour_code)
    council = act.resolution.municipality_code
    if council not in ag.parties:
        raise refuse(
            f"団体コード {council} はこの協定の当事者ではありません(当事者: {'・'.join(ag.parties)})",
            f"{council} is not a party to this agreement",
        )
    _acting_as(act.actor, council, "議会の議決の登録")
    prior = ag.resolutions.get(council)
    if prior is not None:
        if prior == act.resolution:
            return True
        raise refuse(
            f"この協定に対する{council}の議会の議決は登録済みです({format_date_ja(prior.resolved_on)}・{prior.number})",
            f"the council of {council} has already resolved on this agreement",
        )
    if ag.status is not AgreementStatus.drafted:
        raise refuse("この協定は議決待ちではありません", "this agreement is not awaiting resolutions")
    _not_future(act.resolution.resolved_on, today, "議決")
    _not_before(act.resolution.resolved_on, ag.drafted_on, "議決", "協定案の作成")
    return False


def _apply_resolution(state: ZoneState, act: A.RecordResolution, now: datetime) -> Outcome:
    ag = state.agreements[act.neighbour_code]
    ag.resolutions[act.resolution.municipality_code] = act.resolution
    council = act.resolution.municipality_code
    who, other = (
        state.municipality(council),
        state.municipality(ag.hub_code if council == ag.neighbour.code else ag.neighbour.code),
    )
    summary = (
        f"{who.name if who else council}議会が{other.name if other else ''}との協定を議決"
        f"({act.resolution.number})"
    )
    notices: list[Notice] = []
    if all(p in ag.resolutions for p in ag.parties):
        ag.status = AgreementStatus.concluded
        ag.concluded_on = max(r.resolved_on for r in ag.resolutions.values())
        if state.formed_on is None:
            state.formed_on = ag.concluded_on
        hub = state.municipality(ag.hub_code)
        prefs = [prefecture_recipient(c[:2]) for c in ag.parties]
        notices = _copies(
            state,
            f"agreement:{ag.neighbour.code}",
            ag.version,
            f"{state.programme.agreement_ja}({hub.name if hub else ''}・{ag.neighbour.name})",
            now,
            prefs + [MIC],
        )
        summary += f"。両議会の議決により協定締結({format_date_ja(ag.concluded_on)})"
    return Outcome(summary, notices, on=act.resolution.resolved_on)
