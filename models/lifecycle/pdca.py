"""The yearly cycle once the vision is published: a fiscal year's review is opened, then its
PLAN, DO (projects and KPI actuals), CHECK and ACTION are recorded.

CHECK freezes the year's plan and grades every KPI against its actuals; ACTION closes the year.
A review is opened by the ministry, the central city or kenflow's yearly calendar, and no
earlier than the fiscal year in which the vision was published.
"""

from __future__ import annotations

from datetime import date, datetime

from .. import acts as A
from ..actor import Role
from ..fiscal import fiscal_year_of
from ..kpi import KpiActual, KpiStatus, evaluate
from ..zone import FiscalYearReview, ZoneState
from .common import (
    Outcome,
    _central_city_act,
    _member_act,
    _not_before,
    _not_future,
    _require_declared,
    refuse,
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
