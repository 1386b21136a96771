"""The zone's vision: drafted by the central city, reviewed by the council of residents,
consulted on with the neighbours, then published.

Only one draft is open at a time; a new draft supersedes an open one that the council has not
approved yet. A revision of a published vision is not consulted on again. Publishing merges the
vision's KPIs into the zone's register, where a changed target becomes a new target version.
"""

from __future__ import annotations

from datetime import date, datetime

from .. import acts as A
from ..fiscal import fiscal_year_of
from ..kpi import KpiDefinition, KpiTarget
from ..notice import MIC, municipality_recipient, prefecture_recipient
from ..zone import Consultation, ReviewOutcome, Vision, VisionStatus, ZoneState
from .common import (
    Outcome,
    _acting_as,
    _central_city_act,
    _not_before,
    _not_future,
    _require_declared,
    member_prefectures,
    refuse,
)
from .notices import _copies


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
