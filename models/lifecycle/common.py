"""What the rules of every act share: the refusal a clerk reads, the outcome an act has, the
guards most acts run first, and the zone's phase.

The guards live here, not with the acts, so that every act words the same refusal the same way
(a future date, a date before the step it follows, a municipality acting for another).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from ..actor import Actor, Role
from ..era import format_date_ja  # noqa: I001 (clerks read 和暦 dates)
from ..notice import Notice
from ..perspective import FIELDS, PERSPECTIVE_JA, PROGRAMME_PERSPECTIVES
from ..zone import Initiative, Phase, TimelineEntry, ZoneState


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


def _require_declared(state: ZoneState) -> None:
    if state.ended_on is not None:
        raise refuse("この圏域は終了しています", "this zone has ended")
    if state.declaration is None:
        raise refuse(
            f"先に{state.programme.declaration_ja}を行ってください", "the central city has not declared yet"
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


def add_timeline(
    state: ZoneState, act: str, actor: Actor, summary: str, now: datetime, on: date | None
) -> TimelineEntry:
    state.timeline_seq += 1  # not len(timeline): the zone workflow packs a run's entries away
    entry = TimelineEntry(seq=state.timeline_seq, at=now, on=on, act=act, actor=actor, summary=summary)
    state.timeline.append(entry)
    return entry
