"""The notices an act sends: copies of a published document, and reminders.

A notice's key is made from the zone, the document, its version and the recipient, so the same
act replayed from the history produces the same notices, key for key.
"""

from __future__ import annotations

from datetime import datetime

from ..notice import RELATED_MINISTRIES, Notice, NoticeKind, recipient_label
from ..zone import ZoneState


def _notice(
    state: ZoneState,
    document: str,
    version: int,
    recipient: str,
    *,
    kind: NoticeKind,
    subject: str,
    body: str,
    now: datetime,
) -> Notice:
    return Notice(
        key=Notice.make_key(state.zone_id, document, version, recipient),
        zone_id=state.zone_id,
        document=document,
        version=version,
        recipient=recipient,
        kind=kind,
        subject=subject,
        body=body,
        created_at=now,
    )


def _copies(
    state: ZoneState, document: str, version: int, title: str, now: datetime, recipients: list[str]
) -> list[Notice]:
    """Copies of a published document, plus MIC's forwarding to the related ministries."""
    out = [
        _notice(
            state,
            document,
            version,
            r,
            kind=NoticeKind.copy,
            subject=f"【写し送付】{state.name} {title}",
            body=(
                f"{recipient_label(r)} 御中\n\n{state.name}({state.programme.ja})の{title}"
                f"(第{version}版)を公表しましたので、写しを送付します。\n"
            ),
            now=now,
        )
        for r in dict.fromkeys(recipients)
    ]
    for r, name in RELATED_MINISTRIES.items():
        out.append(
            _notice(
                state,
                document,
                version,
                r,
                kind=NoticeKind.forward,
                subject=f"【総務省より送付】{state.name} {title}",
                body=f"{name} 御中\n\n総務省より、{state.name}の{title}(第{version}版)の写しを送付します。\n",
                now=now,
            )
        )
    return out


def reminder_notice(
    state: ZoneState, key: str, recipients: list[str], subject: str, body: str, now: datetime
) -> list[Notice]:
    return [
        _notice(
            state,
            f"reminder:{key}",
            1,
            r,
            kind=NoticeKind.reminder,
            subject=f"【リマインダー】{state.name} {subject}",
            body=f"{recipient_label(r)} 御中\n\n{body}\n",
            now=now,
        )
        for r in dict.fromkeys(recipients)
    ]
