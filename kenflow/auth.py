"""API tokens: the only credential kenflow knows.

A token is shown once, when issued, and stored only as its sha256 digest (ApiTokenRow), so a
copy of the database never lets anyone act as a municipality. A token maps to an Actor (role +
code); the web layer never trusts an actor sent in a request body.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import Engine
from sqlmodel import Session, select

from kenflow.db.tables import ApiTokenRow, MunicipalityRow, ZoneMemberRow
from models.actor import Actor, Role
from models.codes import PREFECTURES, normalize_municipality_code, normalize_prefecture

PREFIX = "kf_"


class TokenError(ValueError):
    """A role/code pair a token cannot be issued for; the message is bilingual."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.strip().encode()).hexdigest()


def normalize_subject(role: Role | str, code: str | None) -> tuple[Role, str | None]:
    """Check the code fits the role: none for the ministry, 2 digits for a prefecture, a
    municipality code (5 or 6 digits, stored as 6) for a municipality."""
    try:
        role = Role(role)
    except ValueError:
        raise TokenError(
            f"役割「{role}」は ministry・prefecture・municipality のいずれかです "
            f"(role must be ministry, prefecture or municipality)"
        ) from None
    if role is Role.system:
        raise TokenError("system のトークンは発行できません (no tokens for the system role)")
    if role is Role.ministry:
        if code:
            raise TokenError("総務省のトークンに団体コードは不要です (the ministry takes no code)")
        return role, None
    if not code:
        raise TokenError(
            f"{role.value} のトークンには --code が必要です (--code is required for {role.value})"
        )
    if role is Role.prefecture:
        return role, normalize_prefecture(code)  # CodeError is a ValueError with the reason
    return role, normalize_municipality_code(code)


def _default_label(engine: Engine, role: Role, code: str | None) -> str | None:
    """None for a municipality nobody has named yet: its name is looked up again at login."""
    if role is Role.ministry:
        return "総務省"
    if role is Role.prefecture:
        return PREFECTURES[code or ""]
    with Session(engine) as s:
        return _municipality_name(s, str(code))


def issue_token(engine: Engine, role: Role | str, code: str | None = None, label: str | None = None) -> str:
    """A new random token for role/code; only its hash is stored. Raises TokenError/CodeError."""
    role, code = normalize_subject(role, code)
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiTokenRow(
        token_hash=hash_token(token),
        role=role.value,
        code=code,
        label=(label or _default_label(engine, role, code) or "")[:100] or None,
    )
    with Session(engine) as s:
        s.add(row)
        s.commit()
    return token


def _municipality_name(s: Session, code: str) -> str | None:
    """A name for a municipality the register did not know when its token was issued."""
    row = s.get(MunicipalityRow, code)
    if row is not None:
        return row.name
    member = s.exec(select(ZoneMemberRow).where(ZoneMemberRow.municipality_code == code)).first()
    return member.name if member else None


def actor_for_hash(engine: Engine, token_hash: str) -> Actor | None:
    with Session(engine) as s:
        row = s.get(ApiTokenRow, token_hash)
        if row is None or row.revoked:
            return None
        name = row.label
        if row.role == Role.municipality.value and row.code and name in (None, row.code):
            name = _municipality_name(s, row.code) or name
        return Actor(role=Role(row.role), code=row.code, name=name)


def token_hash_of(token: str | None) -> str | None:
    """The hash to look a presented token up by; None for one no token could be."""
    if not token or len(token) > 200:
        return None
    return hash_token(token)


def actor_for_token(engine: Engine, token: str | None) -> Actor | None:
    """The actor a token stands for, or None for an unknown or revoked token."""
    token_hash = token_hash_of(token)
    return None if token_hash is None else actor_for_hash(engine, token_hash)


def revoke_token(engine: Engine, token: str) -> bool:
    with Session(engine) as s:
        row = s.get(ApiTokenRow, hash_token(token))
        if row is None:
            return False
        row.revoked = True
        s.add(row)
        s.commit()
        return True
