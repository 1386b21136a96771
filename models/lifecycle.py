"""The zone lifecycle as pure rules: `check` says whether an act may happen now, `apply` makes
it happen and says which notices follow.

The workflow calls `check` from each Update's validator (so a refused act leaves nothing in the
history) and again, through `perform`, inside the handler, because two acts accepted in the same
workflow task were each validated against the state before the other. An act identical to one
already recorded is a duplicate: accepted, changes nothing, so client retries are harmless.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from . import acts as A
from .actor import Actor, Role
from .codes import prefecture_name
from .eligibility import check as eligibility_check
from .era import format_date_ja  # noqa: I001 (clerks read 和暦 dates)
from .fiscal import add_years, fiscal_year_of
from .kpi import KpiActual, KpiDefinition, KpiStatus, KpiTarget, evaluate
from .notice import (
    MIC,
    RELATED_MINISTRIES,
    Notice,
    NoticeKind,
    municipality_recipient,
    prefecture_recipient,
    recipient_label,
)
from .perspective import FIELDS, PERSPECTIVE_JA, PROGRAMME_PERSPECTIVES
from .zone import (
    Abolition,
    Agreement,
    AgreementStatus,
    Consultation,
    EligibilityOverride,
    FiscalYearReview,
    Initiative,
    Phase,
    ReviewOutcome,
    TimelineEntry,
    Vision,
    VisionStatus,
    ZoneState,
)


class ActRefused(Exception):
    """An act the rules do not allow now. The message is for the clerk who made it."""


@dataclass
class Outcome:
    summary: str
    notices: list[Notice] = field(default_factory=list)
    duplicate: bool = False
    on: date | None = None


def refuse(ja: str, en: str) -> ActRefused:
    return ActRefused(f"{ja} ({en})")


# --------------------------------------------------------------------------- helpers


def _add_months(d: date, months: int) -> date:
    """The day an N-month period counted from `d` (「通告があった日から起算して」) has passed
    (「…を経過した日」): the corresponding day N months later. The period ends the day before;
    when that month has no corresponding day (Feb 29, the 31st), the period ends on the month's
    last day (民法143条2項ただし書), so the day after it is the 1st of the next month."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    try:
        return date(year, month, d.day)
    except ValueError:
        ny, nm = divmod(month, 12)
        return date(year + ny, nm + 1, 1)


def _not_future(on: date, today: date, what: str) -> None:
    if on > today:
        raise refuse(
            f"{what}の日付 {format_date_ja(on)} は未来の日付です。本日({format_date_ja(today)})以前の日付を入力してください",
            f"{what} date {on} is in the future",
        )


def _not_before(on: date, earlier: date | None, what: str, step: str) -> None:
    if earlier is not None and on < earlier:
        raise refuse(
            f"{what}の日付 {format_date_ja(on)} は{step}({format_date_ja(earlier)})より前です",
            f"{what} date {on} is before {step} on {earlier}",
        )


def _acting_as(actor: Actor, code: str, what: str) -> None:
    """A municipality acts only as itself; the ministry and kenflow itself may act for it."""
    if actor.role is Role.municipality and actor.code != code:
        raise refuse(
            f"{what}は団体コード {code} の団体のみが行えます(ログイン中: {actor.code})",
            f"only municipality {code} may do this; you are {actor.code}",
        )
    if actor.role is Role.prefecture:
        raise refuse(f"都道府県は{what}を行えません", f"a prefecture cannot do this: {what}")


def _central_city_act(state: ZoneState, actor: Actor, what: str) -> None:
    if actor.role in (Role.ministry, Role.system):
        return
    if actor.role is Role.municipality and actor.code in state.central_codes:
        return
    raise refuse(
        f"{what}は{state.programme.hub_ja}({'・'.join(m.name for m in state.central_cities)})が行います",
        f"only the central city may do this: {what}",
    )


def _member_act(state: ZoneState, actor: Actor, what: str) -> None:
    if actor.role in (Role.ministry, Role.system):
        return
    if actor.role is Role.municipality and actor.code in state.member_codes():
        return
    raise refuse(
        f"{what}は圏域の構成市町村のみが行えます(団体コード {actor.code} は構成市町村ではありません)",
        f"only member municipalities may do this; {actor.code} is not a member",
    )


def _missing_perspectives(state: ZoneState, initiatives: list[Initiative]) -> list[str]:
    wanted = PROGRAMME_PERSPECTIVES[state.programme]
    have = {i.perspective for i in initiatives}
    return [PERSPECTIVE_JA[p] for p in wanted if p not in have]


def _check_initiatives(state: ZoneState, initiatives: list[Initiative], doc: str) -> None:
    wanted = PROGRAMME_PERSPECTIVES[state.programme]
    for i in initiatives:
        if i.perspective not in wanted:
            raise refuse(
                f"取組「{i.title}」の政策分野「{PERSPECTIVE_JA[i.perspective]}」は"
                f"{state.programme.ja}の分野ではありません",
                f"perspective {i.perspective} does not belong to the {state.programme} programme",
            )
        if i.field not in FIELDS[i.perspective]:
            raise refuse(
                f"取組「{i.title}」の項目 {i.field} は「{PERSPECTIVE_JA[i.perspective]}」にありません",
                f"field {i.field} does not exist under {i.perspective}",
            )
    missing = _missing_perspectives(state, initiatives)
    if missing:
        raise refuse(
            f"{doc}には3つの視点それぞれに具体的取組が1つ以上必要です。不足している視点: {'、'.join(missing)}",
            f"the {doc} needs at least one initiative under each perspective; missing: {', '.join(missing)}",
        )


def member_prefectures(state: ZoneState) -> list[str]:
    """Prefectures of the zone's members now: the central cities and the neighbours with a live
    agreement (not a draft, not an abolished one)."""
    return sorted({c[:2] for c in state.member_codes()})


def compute_phase(state: ZoneState) -> Phase:
    if state.ended_on is not None:
        return Phase.ended
    if state.declaration is None:
        return Phase.declaration
    if state.formed_on is None:
        return Phase.agreements
    if state.published_vision is None:
        return Phase.vision
    return Phase.pdca


def _copies(
    state: ZoneState, document: str, version: int, title: str, now: datetime, recipients: list[str]
) -> list[Notice]:
    """Copies of a published document, plus MIC's forwarding to the related ministries."""
    out: list[Notice] = []
    for r in dict.fromkeys(recipients):
        out.append(
            Notice(
                key=Notice.make_key(state.zone_id, document, version, r),
                zone_id=state.zone_id,
                document=document,
                version=version,
                recipient=r,
                kind=NoticeKind.copy,
                subject=f"【写し送付】{state.name} {title}",
                body=(
                    f"{recipient_label(r)} 御中\n\n{state.name}({state.programme.ja})の{title}"
                    f"(第{version}版)を公表しましたので、写しを送付します。\n"
                ),
                created_at=now,
            )
        )
    for r, name in RELATED_MINISTRIES.items():
        out.append(
            Notice(
                key=Notice.make_key(state.zone_id, document, version, r),
                zone_id=state.zone_id,
                document=document,
                version=version,
                recipient=r,
                kind=NoticeKind.forward,
                subject=f"【総務省より送付】{state.name} {title}",
                body=f"{name} 御中\n\n総務省より、{state.name}の{title}(第{version}版)の写しを送付します。\n",
                created_at=now,
            )
        )
    return out


def reminder_notice(
    state: ZoneState, key: str, recipients: list[str], subject: str, body: str, now: datetime
) -> list[Notice]:
    return [
        Notice(
            key=Notice.make_key(state.zone_id, f"reminder:{key}", 1, r),
            zone_id=state.zone_id,
            document=f"reminder:{key}",
            version=1,
            recipient=r,
            kind=NoticeKind.reminder,
            subject=f"【リマインダー】{state.name} {subject}",
            body=f"{recipient_label(r)} 御中\n\n{body}\n",
            created_at=now,
        )
        for r in dict.fromkeys(recipients)
    ]


def add_timeline(
    state: ZoneState, act: str, actor: Actor, summary: str, now: datetime, on: date | None
) -> TimelineEntry:
    entry = TimelineEntry(seq=len(state.timeline) + 1, at=now, on=on, act=act, actor=actor, summary=summary)
    state.timeline.append(entry)
    return entry


# --------------------------------------------------------------------------- start


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
            notices = _copies(
                state,
                "declaration",
                1,
                state.programme.declaration_ja,
                now,
                [prefecture_recipient(m.prefecture_code) for m in state.central_cities] + [MIC],
            )
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


# --------------------------------------------------------------------------- acts


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
    notices = _copies(
        state,
        "declaration",
        1,
        state.programme.declaration_ja,
        now,
        [prefecture_recipient(m.prefecture_code) for m in state.central_cities] + [MIC],
    )
    return Outcome(f"{state.programme.declaration_ja}を公表", notices, on=act.declaration.declared_on)


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


def _require_declared(state: ZoneState) -> None:
    if state.ended_on is not None:
        raise refuse("この圏域は終了しています", "this zone has ended")
    if state.declaration is None:
        raise refuse(
            f"先に{state.programme.declaration_ja}を行ってください", "the central city has not declared yet"
        )


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


def _check_abolition(state: ZoneState, act: A.NotifyAbolition, today: date) -> bool:
    _require_declared(state)
    ag = _agreement(state, act.neighbour_code)
    if act.by not in ag.parties:
        raise refuse(f"団体コード {act.by} はこの協定の当事者ではありません", f"{act.by} is not a party")
    _acting_as(act.actor, act.by, "協定の廃止の通告")
    if act.resolution.municipality_code != act.by:
        raise refuse(
            "廃止の通告には通告する団体自身の議会の議決が必要です",
            "the notice needs the notifying party's own council resolution",
        )
    if ag.status is AgreementStatus.abolition_pending and ag.abolition is not None:
        if ag.abolition.resolution == act.resolution and ag.abolition.notified_on == act.notified_on:
            return True
        raise refuse(
            f"この協定は既に廃止が通告されています(効力発生 {format_date_ja(ag.abolition.effective_on)})",
            "abolition already notified",
        )
    if ag.status is not AgreementStatus.concluded:
        raise refuse("締結済みの協定のみ廃止を通告できます", "only a concluded agreement can be abolished")
    _not_future(act.notified_on, today, "廃止の通告")
    _not_before(act.resolution.resolved_on, ag.concluded_on, "廃止の議決", "協定の締結")
    _not_before(act.notified_on, act.resolution.resolved_on, "廃止の通告", "廃止の議決")
    return False


def _apply_abolition(state: ZoneState, act: A.NotifyAbolition, now: datetime) -> Outcome:
    ag = state.agreements[act.neighbour_code]
    effective = _add_months(act.notified_on, ag.notice_period_months)
    ag.abolition = Abolition(
        by=act.by,
        resolution=act.resolution,
        notified_on=act.notified_on,
        notice_period_months=ag.notice_period_months,
        effective_on=effective,
    )
    ag.status = AgreementStatus.abolition_pending
    other = ag.hub_code if act.by == ag.neighbour.code else ag.neighbour.code
    notices = reminder_notice(
        state,
        f"abolition-notice:{ag.neighbour.code}:v{ag.version}",
        [municipality_recipient(other)] + [prefecture_recipient(c[:2]) for c in ag.parties] + [MIC],
        "協定の廃止の通告",
        f"{ag.title}について、{act.by}から廃止の通告がありました。{format_date_ja(effective)}に効力を失います。",
        now,
    )
    return Outcome(
        f"{ag.neighbour.name}との協定の廃止を通告({format_date_ja(effective)}に失効)",
        notices,
        on=act.notified_on,
    )


def abolish_due(state: ZoneState, today: date, now: datetime) -> list[tuple[str, list[Notice], date]]:
    """Agreements whose notice period has run out end now; a zone left with none ends. Each
    entry carries the date it took effect (the effective date, even if noticed later)."""
    out: list[tuple[str, list[Notice], date]] = []
    for ag in state.agreements.values():
        if (
            ag.status is AgreementStatus.abolition_pending
            and ag.abolition
            and ag.abolition.effective_on <= today
        ):
            ag.status = AgreementStatus.abolished
            ag.ended_on = ag.abolition.effective_on
            notices = _copies(
                state,
                f"agreement:{ag.neighbour.code}:abolished",
                ag.version,
                f"{ag.title}の廃止",
                now,
                [prefecture_recipient(c[:2]) for c in ag.parties] + [MIC],
            )
            summary = f"{ag.neighbour.name}との協定が廃止されました({format_date_ja(ag.ended_on)})"
            out.append((summary, notices, ag.ended_on))
    live = [
        a
        for a in state.agreements.values()
        if a.status in (AgreementStatus.concluded, AgreementStatus.abolition_pending)
    ]
    if out and not live and not state.single_city and state.ended_on is None:
        state.ended_on = max(a.ended_on for a in state.agreements.values() if a.ended_on)
        out.append(("協定がすべて廃止されたため圏域は終了しました", [], state.ended_on))
    return out


def _check_policy(state: ZoneState, act: A.AdoptPolicy, today: date) -> bool:
    _require_declared(state)
    if not state.single_city:
        raise refuse(
            f"{state.programme.policy_ja}は単独の合併市による圏域のみが定めます",
            "only a single-city zone adopts a policy",
        )
    _acting_as(act.actor, state.hub.code, state.programme.policy_ja)
    if act.resolution.municipality_code != state.hub.code:
        raise refuse("形成方針は中心市の議会の議決が必要です", "the policy needs the city's own resolution")
    if state.policy is not None:
        if (
            state.policy.initiatives == act.initiatives
            and state.policy.resolutions.get(state.hub.code) == act.resolution
        ):
            return True
        raise refuse("形成方針は策定済みです", "the policy is already adopted")
    _not_future(act.resolution.resolved_on, today, "議決")
    _not_before(
        act.resolution.resolved_on,
        state.declaration.declared_on if state.declaration else None,
        "議決",
        "宣言",
    )
    _check_initiatives(state, act.initiatives, state.programme.policy_ja)
    return False


def _apply_policy(state: ZoneState, act: A.AdoptPolicy, now: datetime) -> Outcome:
    on = act.resolution.resolved_on
    state.policy = Agreement(
        hub_code=state.hub.code,
        neighbour=state.hub,
        title=act.title or state.programme.policy_ja,
        initiatives=act.initiatives,
        drafted_on=on,
        resolutions={state.hub.code: act.resolution},
        status=AgreementStatus.concluded,
        concluded_on=on,
    )
    state.formed_on = state.formed_on or on
    notices = _copies(
        state,
        "policy",
        1,
        state.programme.policy_ja,
        now,
        [prefecture_recipient(state.hub.prefecture_code), MIC],
    )
    return Outcome(f"{state.programme.policy_ja}を策定(議決 {act.resolution.number})", notices, on=on)


def _draft(state: ZoneState) -> Vision | None:
    v = state.vision
    return v if v is not None and v.status in (VisionStatus.drafted, VisionStatus.reviewed) else None


def _check_draft_vision(state: ZoneState, act: A.DraftVision, today: date) -> bool:
    _require_declared(state)
    if state.formed_on is None:
        raise refuse(
            "ビジョンは協定締結(圏域形成)の後に策定します", "the vision comes after the zone is formed"
        )
    _central_city_act(state, act.actor, "ビジョンの作成")
    latest = state.vision
    if latest is not None and _same_draft(latest, act):
        # A retry: it may arrive after the draft moved on (reviewed, even published).
        return True
    draft = _draft(state)
    if draft is not None and draft.status is VisionStatus.reviewed:
        raise refuse(
            "懇談会で了承されたビジョン案が協議・公表待ちです。公表後に改訂してください",
            "a reviewed draft is awaiting consultation or publication",
        )
    if act.revision and state.published_vision is None:
        raise refuse("改訂の対象となる公表済みのビジョンがありません", "no published vision to revise")
    _not_future(act.drafted_on, today, "ビジョン案")
    _not_before(act.drafted_on, state.formed_on, "ビジョン案", "圏域の形成")
    seen: set[str] = set()
    for k in act.kpis:
        if k.id in seen:
            raise refuse(f"KPI「{k.id}」が重複しています", f"duplicate KPI id {k.id}")
        seen.add(k.id)
    known = set(state.agreements) | {"policy"}
    for i in act.initiatives:
        if i.agreement is not None and i.agreement not in known:
            raise refuse(
                f"取組「{i.title}」の根拠となる協定({i.agreement})がありません",
                f"initiative {i.title!r} rests on an unknown agreement {i.agreement}",
            )
    return False


def _same_draft(v: Vision, act: A.DraftVision) -> bool:
    return (
        v.drafted_on == act.drafted_on
        and v.title == act.title
        and v.revision == act.revision
        and v.period_start_fy == act.period_start_fy
        and v.period_end_fy == act.period_start_fy + act.period_years - 1
        and v.future_image == act.future_image
        and v.initiatives == act.initiatives
        and v.kpis == act.kpis
    )


def _apply_draft_vision(state: ZoneState, act: A.DraftVision, now: datetime) -> Outcome:
    draft = _draft(state)
    if draft is not None:
        draft.status = VisionStatus.superseded
    version = (max(v.version for v in state.visions) + 1) if state.visions else 1
    state.visions.append(
        Vision(
            version=version,
            revision=act.revision,
            title=act.title,
            future_image=act.future_image,
            initiatives=act.initiatives,
            kpis=act.kpis,
            period_start_fy=act.period_start_fy,
            period_end_fy=act.period_start_fy + act.period_years - 1,
            drafted_on=act.drafted_on,
        )
    )
    kind = "改訂案" if act.revision else "案"
    return Outcome(f"{state.programme.vision_ja}の{kind}(第{version}版)を作成", on=act.drafted_on)


def _check_review(state: ZoneState, act: A.RecordCouncilReview, today: date) -> bool:
    _require_declared(state)
    _central_city_act(state, act.actor, "懇談会の審議結果の登録")
    v = state.vision
    if v is not None and v.reviews and v.reviews[-1] == act.review:
        return True
    draft = _draft(state)
    if draft is None or draft.status is not VisionStatus.drafted:
        raise refuse(
            "懇談会の審議を待つビジョン案がありません", "no vision draft awaits the council's review"
        )
    _not_future(act.review.met_on, today, "懇談会")
    _not_before(act.review.met_on, draft.drafted_on, "懇談会", "ビジョン案の作成")
    return False


def _apply_review(state: ZoneState, act: A.RecordCouncilReview, now: datetime) -> Outcome:
    draft = _draft(state)
    assert draft is not None
    draft.reviews.append(act.review)
    sectors = "・".join(dict.fromkeys(m.sector for m in act.review.members))
    if act.review.outcome is ReviewOutcome.approved:
        draft.status = VisionStatus.reviewed
        draft.consultees = (
            [] if draft.revision else [c for c in state.member_codes() if c not in state.central_codes]
        )
        return Outcome(f"懇談会がビジョン案を了承({sectors})", on=act.review.met_on)
    return Outcome(f"懇談会がビジョン案の修正を求めた({sectors})", on=act.review.met_on)


def _check_consultation(state: ZoneState, act: A.AnswerConsultation, today: date) -> bool:
    _require_declared(state)
    _acting_as(act.actor, act.municipality_code, "ビジョンの協議への回答")
    v = state.vision
    if v is not None and act.municipality_code in v.consultations:
        prior = v.consultations[act.municipality_code]
        if (prior.answer, prior.comments, prior.answered_on) == (act.answer, act.comments, act.answered_on):
            return True
        raise refuse("このビジョン案への回答は登録済みです", "this municipality has already answered")
    draft = _draft(state)
    if draft is None:
        raise refuse("協議中のビジョン案がありません", "no vision draft is out for consultation")
    if draft.status is VisionStatus.drafted:
        raise refuse(
            "ビジョン案はまだ懇談会の審議前です。協議への回答は懇談会の了承後に行ってください",
            "the council has not reviewed the draft yet; answer after its review",
        )
    if act.municipality_code not in draft.consultees:
        raise refuse(
            f"団体コード {act.municipality_code} はこのビジョン案の協議先ではありません",
            f"{act.municipality_code} is not consulted on this draft",
        )
    if act.answer.value == "agree_with_comments" and not act.comments.strip():
        raise refuse(
            "「意見を付して同意」には意見を記入してください", "agree with comments needs the comments"
        )
    _not_future(act.answered_on, today, "回答")
    _not_before(act.answered_on, draft.reviews[-1].met_on, "回答", "懇談会")
    return False


def _apply_consultation(state: ZoneState, act: A.AnswerConsultation, now: datetime) -> Outcome:
    draft = _draft(state)
    assert draft is not None
    draft.consultations[act.municipality_code] = Consultation(
        municipality_code=act.municipality_code,
        answer=act.answer,
        comments=act.comments,
        answered_on=act.answered_on,
    )
    who = state.municipality(act.municipality_code)
    word = "同意" if act.answer.value == "agree" else "意見を付して同意"
    return Outcome(f"{who.name if who else act.municipality_code}がビジョン案に{word}", on=act.answered_on)


def _check_publish(state: ZoneState, act: A.PublishVision, today: date) -> bool:
    _require_declared(state)
    _central_city_act(state, act.actor, "ビジョンの公表")
    v = state.vision
    if v is not None and v.status is VisionStatus.published and v.published_on == act.published_on:
        return True
    draft = _draft(state)
    if draft is None or draft.status is VisionStatus.drafted:
        raise refuse(
            "公表できるビジョン案がありません(懇談会の了承が必要です)",
            "no draft has been approved by the council",
        )
    members = state.member_codes()
    missing = [c for c in draft.consultees if c not in draft.consultations and c in members]
    if missing:
        names = "・".join((state.municipality(c).name if state.municipality(c) else c) for c in missing)
        raise refuse(
            f"次の市町村の協議への回答を待っています: {names}",
            f"waiting for consultation answers from {missing}",
        )
    _not_future(act.published_on, today, "公表")
    last = max([draft.reviews[-1].met_on] + [c.answered_on for c in draft.consultations.values()])
    _not_before(act.published_on, last, "公表", "懇談会の審議・協議への回答")
    return False


def merge_kpis(state: ZoneState, kpis: list[KpiDefinition], fy: int) -> None:
    """New KPIs are added; a changed target becomes a new target version, never an overwrite."""
    for k in kpis:
        old = state.kpis.get(k.id)
        if old is None:
            # A copy: the registry's targets grow with later visions; the vision keeps its own.
            state.kpis[k.id] = k.model_copy(deep=True)
            continue
        new_target = k.targets[-1]
        cur = old.targets[-1]
        if (new_target.baseline, new_target.target) != (cur.baseline, cur.target):
            old.targets.append(
                KpiTarget(
                    version=cur.version + 1,
                    baseline=new_target.baseline,
                    target=new_target.target,
                    set_on_fy=fy,
                    reason=new_target.reason,
                )
            )
        old.name, old.unit, old.kind = k.name, k.unit, k.kind


def _apply_publish(state: ZoneState, act: A.PublishVision, now: datetime) -> Outcome:
    draft = _draft(state)
    assert draft is not None
    for v in state.visions:
        if v.status is VisionStatus.published:
            v.status = VisionStatus.superseded
    draft.status = VisionStatus.published
    draft.published_on = act.published_on
    merge_kpis(state, draft.kpis, fiscal_year_of(act.published_on))
    neighbours = [municipality_recipient(c) for c in state.member_codes() if c not in state.central_codes]
    prefs = [prefecture_recipient(p) for p in member_prefectures(state)]
    notices = _copies(
        state, "vision", draft.version, state.programme.vision_ja, now, neighbours + prefs + [MIC]
    )
    kind = "改訂版" if draft.revision else ""
    return Outcome(
        f"{state.programme.vision_ja}{kind}(第{draft.version}版)を公表", notices, on=act.published_on
    )


def _require_pdca(state: ZoneState) -> None:
    _require_declared(state)
    if state.published_vision is None:
        raise refuse(
            "ビジョンの公表後に年度のPDCAを始めます", "the yearly cycle starts after the vision is published"
        )


def _review(state: ZoneState, fy: int) -> FiscalYearReview:
    r = state.reviews.get(fy)
    if r is None:
        raise refuse(f"{fy}年度の振り返りは開始されていません", f"fiscal year {fy} review has not started")
    return r


def _check_review_fy(state: ZoneState, act: A.ReviewFiscalYear, today: date) -> bool:
    _require_pdca(state)
    if act.actor.role not in (Role.ministry, Role.system) and act.actor.code not in state.central_codes:
        raise refuse(
            "年度の振り返りの開始は総務省・中心市・kenflowの年次予定が行います",
            "only the ministry, the central city or the yearly calendar starts a review",
        )
    if act.fy in state.reviews:
        return True
    now_fy = fiscal_year_of(today)
    if act.fy > now_fy:
        raise refuse(
            f"{act.fy}年度はまだ始まっていません(現在は{now_fy}年度)",
            f"fiscal year {act.fy} has not started; it is now FY{now_fy}",
        )
    first = min(fiscal_year_of(v.published_on) for v in state.visions if v.published_on is not None)
    if act.fy < first:
        raise refuse(
            f"{act.fy}年度はビジョン公表({first}年度)より前です",
            f"FY{act.fy} is before the vision was published in FY{first}",
        )
    return False


def _apply_review_fy(state: ZoneState, act: A.ReviewFiscalYear, now: datetime, today: date) -> Outcome:
    state.reviews[act.fy] = FiscalYearReview(fy=act.fy, requested_on=today, requested_by=act.actor.label())
    state.current_fy = max(state.current_fy or act.fy, act.fy)
    return Outcome(f"{act.fy}年度の振り返り(PDCA)を開始", on=today)


def _check_plan(state: ZoneState, act: A.RecordPlan, today: date) -> bool:
    _require_pdca(state)
    _central_city_act(state, act.actor, "PLAN(計画)の登録")
    r = _review(state, act.fy)
    if r.plan == act.plan and r.plan_vision_revision == act.vision_revision:
        return True
    if r.check_on is not None:
        raise refuse("CHECK済みの年度の計画は変更できません", "the year is already checked")
    return False


def _apply_plan(state: ZoneState, act: A.RecordPlan, now: datetime) -> Outcome:
    r = state.reviews[act.fy]
    r.plan, r.plan_vision_revision = act.plan, act.vision_revision
    return Outcome(f"{act.fy}年度のPLAN(計画)を登録")


def _check_projects(state: ZoneState, act: A.RecordProjects, today: date) -> bool:
    _require_pdca(state)
    _member_act(state, act.actor, "DO(事業の実施状況)の登録")
    r = _review(state, act.fy)
    if all(p in r.projects for p in act.projects):
        return True
    if r.action_on is not None:
        raise refuse("ACTION済みの年度の実施状況は変更できません", "the year is already closed")
    return False


def _apply_projects(state: ZoneState, act: A.RecordProjects, now: datetime) -> Outcome:
    r = state.reviews[act.fy]
    by_name = {p.initiative: p for p in r.projects}
    by_name.update({p.initiative: p for p in act.projects})
    r.projects = list(by_name.values())
    return Outcome(f"{act.fy}年度のDO(事業の実施状況)を{len(act.projects)}件登録")


def _check_actuals(state: ZoneState, act: A.RecordKpiActuals, today: date) -> bool:
    _require_pdca(state)
    _member_act(state, act.actor, "KPI実績の入力")
    now_fy = fiscal_year_of(today)
    problems: list[str] = []
    seen: set[tuple[str, int]] = set()
    for n, e in enumerate(act.actuals, start=1):
        if e.kpi_id not in state.kpis:
            problems.append(f"{n}件目: KPI「{e.kpi_id}」はこの圏域のビジョンにありません")
        elif e.fy > now_fy:
            problems.append(f"{n}件目: {e.fy}年度はまだ始まっていません")
        elif (e.kpi_id, e.fy) in seen:
            problems.append(f"{n}件目: KPI「{e.kpi_id}」の{e.fy}年度が重複しています")
        seen.add((e.kpi_id, e.fy))
        if len(problems) >= 20:
            break
    if problems:
        raise refuse(
            "KPI実績を登録できません。" + " / ".join(problems),
            f"{len(problems)} KPI actual(s) refused; nothing was recorded",
        )
    return all(_same_actual(state, e) for e in act.actuals)


def _same_actual(state: ZoneState, e: A.ActualEntry) -> bool:
    for a in reversed(state.actuals):
        if a.kpi_id == e.kpi_id and a.fy == e.fy and a.estimate == e.estimate:
            return a.value == e.value and a.from_fy == e.from_fy
    return False


def _apply_actuals(state: ZoneState, act: A.RecordKpiActuals, now: datetime) -> Outcome:
    fresh = [e for e in act.actuals if not _same_actual(state, e)]
    for e in fresh:
        state.actuals.append(
            KpiActual(
                kpi_id=e.kpi_id,
                value=e.value,
                fy=e.fy,
                from_fy=e.from_fy,
                estimate=e.estimate,
                entered_by=act.actor.label(),
                entered_at=now,
                label=e.label,
            )
        )
    src = f"({act.source})" if act.source != "form" else ""
    return Outcome(f"KPI実績を{len(fresh)}件登録{src}")


def _check_check(state: ZoneState, act: A.CompleteCheck, today: date) -> bool:
    _require_pdca(state)
    _central_city_act(state, act.actor, "CHECK(評価)")
    r = _review(state, act.fy)
    if r.check_on is not None:
        if r.check_on == act.checked_on:
            return True
        raise refuse(f"{act.fy}年度のCHECKは完了しています", "this year is already checked")
    if r.plan is None:
        raise refuse(f"{act.fy}年度のPLAN(計画)を先に登録してください", "record the year's PLAN first")
    _not_future(act.checked_on, today, "CHECK")
    _not_before(act.checked_on, r.requested_on, "CHECK", "振り返りの開始")
    return False


def _apply_check(state: ZoneState, act: A.CompleteCheck, now: datetime) -> Outcome:
    r = state.reviews[act.fy]
    r.check_on = act.checked_on
    r.evaluations = [
        evaluate(k, [a for a in state.actuals if a.kpi_id == k.id], act.fy) for k in state.kpis.values()
    ]
    r.highlighted = [e.kpi_id for e in r.evaluations if e.status is KpiStatus.behind or e.grade == "D"]
    counts = {s: sum(1 for e in r.evaluations if e.status is s) for s in KpiStatus}
    return Outcome(
        f"{act.fy}年度のCHECK完了: 達成{counts[KpiStatus.achieved]}・順調{counts[KpiStatus.on_track]}"
        f"・遅れ{counts[KpiStatus.behind]}・未入力{counts[KpiStatus.no_data]}(要改善 {len(r.highlighted)}件)",
        on=act.checked_on,
    )


def _check_action(state: ZoneState, act: A.CompleteAction, today: date) -> bool:
    _require_pdca(state)
    _central_city_act(state, act.actor, "ACTION(改善)")
    r = _review(state, act.fy)
    if r.action_on is not None:
        if (r.action_on, r.action_results) == (act.reviewed_on, act.results):
            return True
        raise refuse(f"{act.fy}年度のACTIONは完了しています", "this year's ACTION is done")
    if r.check_on is None:
        raise refuse(f"{act.fy}年度のCHECK(評価)を先に完了してください", "complete the year's CHECK first")
    _not_future(act.reviewed_on, today, "ACTION")
    _not_before(act.reviewed_on, r.check_on, "ACTION", "CHECK")
    return False


def _apply_action(state: ZoneState, act: A.CompleteAction, now: datetime) -> Outcome:
    r = state.reviews[act.fy]
    r.action_on, r.action_results, r.improvements, r.revise_vision = (
        act.reviewed_on,
        act.results,
        act.improvements,
        act.revise_vision,
    )
    more = "。ビジョンを改訂します" if act.revise_vision else ""
    names = [state.kpis[k].name if k in state.kpis else k for k in r.highlighted]
    focus = f"。要改善のKPI: {'、'.join(names)}" if names else ""
    return Outcome(f"{act.fy}年度のACTION(懇談会による検証・改善)を登録{focus}{more}", on=act.reviewed_on)


# --------------------------------------------------------------------------- dispatch

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


def member_label(state: ZoneState, code: str) -> str:
    m = state.municipality(code)
    return f"{m.name}({prefecture_name(code[:2])})" if m else code


__all__ = [
    "ActRefused",
    "Outcome",
    "check",
    "perform",
    "initial_state",
    "validate_start",
    "compute_phase",
    "abolish_due",
    "add_timeline",
    "member_prefectures",
    "reminder_notice",
    "merge_kpis",
    "add_years",
]
