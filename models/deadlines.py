"""Deadlines inside a zone's life, as data.

The workflow does not keep one timer per deadline: timers do not survive continue-as-new, and
a zone lives for decades. Instead it asks `next_due` for the earliest date anything falls due,
sleeps until then (or until an act arrives), and calls `fire_due`. Each deadline has a key; a
fired key is remembered in the state so a reminder goes out once.

A reminder that was overtaken while nobody was watching (the worker was down for months) is
not sent late: a repeat whose next repeat is already due, or a "the vision will expire" warning
after the vision has expired, is marked done silently, so a returning worker sends one
reminder per matter, not a burst of stale ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from .actor import SYSTEM
from .era import format_date_ja  # noqa: I001 (clerks read 和暦 dates)
from .fiscal import fiscal_year_end
from .lifecycle import abolish_due, add_timeline, compute_phase, member_prefectures, reminder_notice
from .notice import MIC, Notice, municipality_recipient, prefecture_recipient
from .zone import AgreementStatus, VisionStatus, ZoneState

MAX_REPEATS = 12  # a reminder repeats every `repeat_days`, at most this many times


@dataclass(frozen=True)
class Due:
    key: str
    on: date
    recipients: tuple[str, ...]
    subject: str
    body: str
    stale_on: date | None = None  # from this day on it is no longer worth sending


def _repeating(
    state: ZoneState, base_key: str, first: date, recipients: list[str], subject: str, body: str
) -> Due | None:
    policy = state.reminders
    for n in range(MAX_REPEATS):
        key = f"{base_key}#{n + 1}"
        if key not in state.reminders_fired:
            on = first + timedelta(days=n * policy.repeat_days)
            last = n + 1 == MAX_REPEATS
            stale = None if last else on + timedelta(days=policy.repeat_days)  # the next repeat is due
            return Due(key, on, tuple(recipients), subject, body, stale)
    return None


def reminders(state: ZoneState) -> list[Due]:
    """Every reminder not yet sent, with the date it falls due."""
    if state.ended_on is not None:
        return []
    p = state.reminders
    out: list[Due] = []
    for code, ag in state.agreements.items():
        if ag.status is not AgreementStatus.drafted:
            continue
        missing = [c for c in ag.parties if c not in ag.resolutions]
        due = _repeating(
            state,
            f"resolution-missing:{code}:v{ag.version}",
            ag.drafted_on + timedelta(days=p.resolution_missing_days),
            [municipality_recipient(c) for c in missing],
            "協定の議会の議決が未登録です",
            f"{ag.title}の案の作成({format_date_ja(ag.drafted_on)})から{p.resolution_missing_days}日が経過しましたが、"
            f"議会の議決が登録されていません(未登録: {'・'.join(missing)})。",
        )
        if due:
            out.append(due)
    v = state.vision
    if v is not None and v.status is VisionStatus.reviewed and v.consultees:
        members = state.member_codes()  # a neighbour that left is no longer waited for
        waiting = [c for c in v.consultees if c not in v.consultations and c in members]
        if waiting:
            due = _repeating(
                state,
                f"consultation-missing:v{v.version}",
                v.reviews[-1].met_on + timedelta(days=p.consultation_missing_days),
                [municipality_recipient(c) for c in waiting],
                "ビジョン案の協議への回答をお願いします",
                f"{v.title}(第{v.version}版)の協議への回答が届いていません。",
            )
            if due:
                out.append(due)
    pv = state.published_vision
    if pv is not None and not (v is not None and v.version > pv.version and not v.revision):
        end = fiscal_year_end(pv.period_end_fy)
        to = [municipality_recipient(c) for c in state.central_codes] + [MIC]
        # Keyed by the period, not the version: a yearly revision that keeps the period does not
        # send the same warning again.
        key = f"vision-expiring:fy{pv.period_end_fy}"
        if key not in state.reminders_fired:
            out.append(
                Due(
                    key,
                    end - timedelta(days=p.vision_expiry_warning_days),
                    tuple(to),
                    "ビジョンの計画期間が終了します",
                    f"{pv.title}の計画期間は{format_date_ja(end)}に終了します。次期ビジョンの策定をお願いします。",
                    stale_on=end + timedelta(days=1),
                )
            )
        key = f"vision-expired:fy{pv.period_end_fy}"
        if key not in state.reminders_fired:
            prefs = [prefecture_recipient(c) for c in member_prefectures(state)]
            out.append(
                Due(
                    key,
                    end + timedelta(days=1),
                    tuple(to + prefs),
                    "新しいビジョンの策定時期です",
                    f"{pv.title}の計画期間({pv.period_start_fy}〜{pv.period_end_fy}年度)が終了しました。"
                    "新たなビジョンの策定が必要です。",
                )
            )
    for fy, r in state.reviews.items():
        if r.check_on is None:
            due = _repeating(
                state,
                f"kpi-actuals-due:{fy}",
                fiscal_year_end(fy) + timedelta(days=p.kpi_actuals_due_days),
                [municipality_recipient(c) for c in state.member_codes()],
                f"{fy}年度のKPI実績の入力をお願いします",
                f"{fy}年度が終了しました。KPI実績を入力し、CHECK(評価)を完了してください。",
            )
            if due:
                out.append(due)
    return out


def next_due(state: ZoneState) -> date | None:
    dates = [d.on for d in reminders(state)]
    for ag in state.agreements.values():
        if ag.status is AgreementStatus.abolition_pending and ag.abolition is not None:
            dates.append(ag.abolition.effective_on)
    return min(dates) if dates else None


def fire_due(state: ZoneState, today: date, now: datetime) -> list[Notice]:
    """Apply everything due by `today`: abolitions take effect (dated their effective day),
    reminders go out once, overtaken ones are dropped. Afterwards nothing is due by `today`."""
    notices: list[Notice] = []
    for summary, ns, on in abolish_due(state, today, now):
        state.version += 1
        add_timeline(state, "abolition_effective", SYSTEM, summary, now, on)
        notices += ns
    # Firing one repeat makes the next one visible, so go round until nothing is due; every round
    # fires at least one new key and the keys are finite (MAX_REPEATS per matter).
    while due_now := [d for d in reminders(state) if d.on <= today]:
        for due in due_now:
            state.reminders_fired.append(due.key)
            if due.stale_on is not None and today >= due.stale_on:
                continue
            notices += reminder_notice(state, due.key, list(due.recipients), due.subject, due.body, now)
            state.version += 1
            add_timeline(state, "reminder", SYSTEM, f"リマインダー送付: {due.subject}", now, today)
    state.phase = compute_phase(state)
    return notices
