"""Ending an agreement: a party's notice, backed by its council, takes effect after the notice
period; a zone left with no live agreement ends.

The notice only starts the period: `abolish_due` ends the agreement when the period has run
out, and dates the end on the effective day even when it is noticed later.
"""

from __future__ import annotations

from datetime import date, datetime

from .. import acts as A
from ..era import format_date_ja  # noqa: I001 (clerks read 和暦 dates)
from ..notice import MIC, Notice, municipality_recipient, prefecture_recipient
from ..zone import Abolition, AgreementStatus, ZoneState
from .agreements import _agreement
from .common import Outcome, _acting_as, _not_before, _not_future, _require_declared, refuse
from .notices import _copies, reminder_notice


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
