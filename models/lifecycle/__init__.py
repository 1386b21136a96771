"""The zone lifecycle as pure rules: `check` says whether an act may happen now, `apply` makes
it happen and says which notices follow.

The workflow calls `check` from each Update's validator (so a refused act leaves nothing in the
history) and again, through `perform`, inside the handler, because two acts accepted in the same
workflow task were each validated against the state before the other. An act identical to one
already recorded is a duplicate: accepted, changes nothing, so client retries are harmless.

One module per stage of a zone's life (start, declaration, agreements, abolition, policy,
vision, pdca), the guards they share in common, the notices they send in notices, and the table
from act to rules in dispatch. Import from this package, not from its modules: they are how the
rules are filed, not an interface.
"""

from __future__ import annotations

from .abolition import _add_months as _add_months
from .abolition import abolish_due
from .common import ActRefused, Outcome, add_timeline, compute_phase, member_prefectures
from .common import refuse as refuse
from .dispatch import RULES as RULES
from .dispatch import Apply as Apply
from .dispatch import Check as Check
from .dispatch import check, perform
from .notices import reminder_notice
from .start import initial_state, validate_start
from .vision import merge_kpis

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
]
