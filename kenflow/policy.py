"""Who may do what, as pure functions of an actor and a zone's membership.

The workflow already refuses acts that break the rules of the lifecycle (409). This module is
the layer in front of it: it answers 403 before Temporal is called when the actor has no
business with the zone at all, so a municipality can never probe or change another zone, and a
prefecture, which only receives copies, never changes anything. Kept free of I/O so the whole
role × act matrix is testable without a server.

Rules (DOMAIN.md "Who uses the product"):
- the ministry starts zones, reads everything, and may record any act on a municipality's
  behalf (the lifecycle allows it: paper records replayed by a coordinator);
- a prefecture reads the zones that include one of its municipalities and never acts;
- a municipality acts only as itself and only in zones it belongs to. A neighbour whose
  agreement is only drafted belongs for its own resolution on that agreement, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from models.actor import Actor, Role
from models.zone import AgreementStatus, ZoneState

LIVE = (AgreementStatus.concluded.value, AgreementStatus.abolition_pending.value)


class Who(StrEnum):
    """Who an act belongs to, beyond the ministry."""

    ministry = "ministry"  # the ministry alone (start a zone, override eligibility)
    central = "central"  # a central city of the zone
    party = "party"  # a party to the agreement named in the path, acting as itself
    consulted = "consulted"  # the municipality named in the path, a live member
    member = "member"  # any live member (central city or concluded neighbour)


ACTS: dict[str, Who] = {
    "start_zone": Who.ministry,
    "override_eligibility": Who.ministry,
    "declare": Who.central,
    "draft_agreement": Who.central,
    "record_resolution": Who.party,
    "notify_abolition": Who.party,
    "adopt_policy": Who.central,
    "draft_vision": Who.central,
    "record_council_review": Who.central,
    "answer_consultation": Who.consulted,
    "publish_vision": Who.central,
    "review_fiscal_year": Who.central,
    "record_plan": Who.central,
    "record_projects": Who.member,
    "record_kpi_actuals": Who.member,
    "complete_check": Who.central,
    "complete_action": Who.central,
}


@dataclass(frozen=True)
class ZoneFacts:
    """What the policy needs to know about a zone (from the read model's member rows)."""

    zone_id: str
    central_codes: tuple[str, ...]
    prefecture_codes: tuple[str, ...]
    members: dict[str, str | None] = field(default_factory=dict)  # code -> agreement status (None: central)
    hubs: dict[str, str] = field(default_factory=dict)  # neighbour code -> hub code of its agreement

    @classmethod
    def of_state(cls, state: ZoneState) -> ZoneFacts:
        members: dict[str, str | None] = {c: None for c in state.central_codes}
        for code, ag in state.agreements.items():
            members.setdefault(code, ag.status.value)
        return cls(
            zone_id=state.zone_id,
            central_codes=tuple(state.central_codes),
            prefecture_codes=tuple(state.prefecture_codes()),
            members=members,
            hubs={code: ag.hub_code for code, ag in state.agreements.items()},
        )

    def is_central(self, code: str | None) -> bool:
        return code in self.central_codes

    def is_live_member(self, code: str | None) -> bool:
        return (
            code is not None
            and code in self.members
            and (self.members[code] is None or self.members[code] in LIVE)
        )

    def is_named(self, code: str | None) -> bool:
        """Named in the zone at all: central city or neighbour with an agreement in any state."""
        return code is not None and code in self.members


@dataclass(frozen=True)
class Decision:
    allowed: bool
    status: int = 200  # 401 or 403 when refused
    message: str = ""

    def __bool__(self) -> bool:
        return self.allowed


ALLOW = Decision(True)


def _deny(ja: str, en: str, status: int = 403) -> Decision:
    return Decision(False, status, f"{ja} ({en})")


def unauthenticated() -> Decision:
    return _deny(
        "ログインしていないか、トークンが無効です。発行されたトークンを Authorization: Bearer で送ってください",
        "missing or invalid token",
        401,
    )


def may_read_zone(actor: Actor, zone: ZoneFacts) -> Decision:
    """The ministry reads all; a prefecture the zones touching it; a municipality its own."""
    if actor.role in (Role.ministry, Role.system):
        return ALLOW
    if actor.role is Role.prefecture:
        if actor.code in zone.prefecture_codes:
            return ALLOW
        return _deny(
            f"この圏域({zone.zone_id})には貴都道府県({actor.code})の市町村が含まれていません",
            "a prefecture reads only the zones of its municipalities",
        )
    if zone.is_named(actor.code):
        return ALLOW
    return _deny(
        f"団体コード {actor.code} はこの圏域({zone.zone_id})の構成市町村ではありません",
        "a municipality reads only the zones it belongs to",
    )


def may_start_zone(actor: Actor) -> Decision:
    if actor.role is Role.ministry:
        return ALLOW
    return _deny("圏域のワークフローを開始できるのは総務省のみです", "only the ministry starts a zone")


def may_act(actor: Actor, act: str, zone: ZoneFacts, subject: str | None = None) -> Decision:
    """May `actor` make `act` in `zone`? `subject` is the municipality code the act names: the
    agreement's neighbour (resolutions, abolition) or the consulted municipality. Whether the
    act fits the zone's state now is the workflow's question (409), not this one's."""
    who = ACTS[act]
    if actor.role is Role.ministry or actor.role is Role.system:
        return ALLOW
    if actor.role is Role.prefecture:
        return _deny(
            "都道府県は写しの送付を受け、圏域を閲覧できますが、操作は行えません",
            "a prefecture reads zones but makes no acts",
        )
    code = actor.code
    if who is Who.ministry:
        return _deny("この操作は総務省のみが行えます", f"only the ministry may {act}")
    if not zone.is_named(code):
        return _deny(
            f"団体コード {code} はこの圏域({zone.zone_id})の構成市町村ではありません",
            "a municipality acts only in zones it belongs to",
        )
    if who is Who.central:
        if zone.is_central(code):
            return ALLOW
        return _deny("この操作は圏域の中心市(連携中枢都市)が行います", f"only the central city may {act}")
    if who is Who.party:
        hub = zone.hubs.get(subject or "")
        # No such agreement: a central city may ask, and the workflow says it does not exist.
        parties = {subject, hub} if hub else {subject, *zone.central_codes}
        if code in parties:
            return ALLOW
        return _deny(
            f"団体コード {code} はこの協定(相手方 {subject})の当事者ではありません",
            "a municipality acts only on its own agreements",
        )
    if not zone.is_live_member(code):
        return _deny(
            "協定の締結前は、自らの協定の議決の登録のみ行えます",
            "before its agreement is concluded a neighbour may only record its own resolution",
        )
    if who is Who.consulted and subject != code:
        return _deny(
            f"協議への回答は団体自身が行います(ログイン中: {code}、回答先: {subject})",
            "a municipality answers only for itself",
        )
    return ALLOW


def may_act_as(actor: Actor, code: str) -> Decision:
    """A municipality records only its own council's resolutions."""
    if actor.role is Role.municipality and actor.code != code:
        return _deny(
            f"団体コード {code} の議会の議決は、その団体のみが登録できます(ログイン中: {actor.code})",
            "a municipality acts only as itself",
        )
    return ALLOW


def visible_prefecture(actor: Actor, requested: str | None) -> tuple[str | None, Decision]:
    """The prefecture filter a list may use: a prefecture sees only its own."""
    if actor.role is not Role.prefecture:
        return requested, ALLOW
    if requested and requested != actor.code:
        return None, _deny(
            f"他の都道府県({requested})の圏域は閲覧できません", "a prefecture reads only its own zones"
        )
    return actor.code, ALLOW
