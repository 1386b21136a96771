"""The formation policy of a single merged city: the zone it forms has no neighbour to sign with,
so the city's own council adopts a policy in place of the agreements.
"""

from __future__ import annotations

from datetime import date, datetime

from .. import acts as A
from ..notice import MIC, prefecture_recipient
from ..zone import Agreement, AgreementStatus, ZoneState
from .common import (
    Outcome,
    _acting_as,
    _check_initiatives,
    _not_before,
    _not_future,
    _require_declared,
    refuse,
)
from .notices import _copies


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
