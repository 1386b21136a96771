"""Hypothesis strategies for Update payloads, as raw JSON-able values.

Pydantic models cannot go through `st.builds` (their constraints are not in the type hints,
so construction fails before anything is sent), so `model_dicts` walks a model's fields the
way `st.from_type` would and yields dicts of roughly the right shape, drawing strings, codes
and dates from pools that sometimes pass the rules. `mutations` breaks a valid act: a field
of the wrong type, a field missing, an unknown field. Both are sent as raw JSON through the
client's data converter, so the worker's decoding is what sees them.
"""

from __future__ import annotations

import types
import typing
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any

from hypothesis import strategies as st
from pydantic import BaseModel

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def _dates(today: date) -> st.SearchStrategy[str]:
    near = st.integers(-800, 30).map(lambda d: (today + timedelta(days=d)).isoformat())
    return near | st.dates().map(date.isoformat) | st.sampled_from(["", "2020-02-30", "令和2年4月1日"])


def value_for(tp: Any, codes: list[str], today: date, depth: int = 0) -> st.SearchStrategy[Any]:
    """JSON values shaped like `tp`, sometimes valid, often not."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return value_for(args[0], codes, today, depth)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(value_for(a, codes, today, depth) for a in args))
    if origin is list:
        return st.lists(value_for(args[0], codes, today, depth + 1), max_size=3 if depth < 2 else 1)
    if origin is dict:
        return st.dictionaries(
            st.sampled_from(codes), value_for(args[1], codes, today, depth + 1), max_size=2
        )
    if tp is type(None):
        return st.none()
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return model_dicts(tp, codes, today, depth + 1)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return st.sampled_from([m.value for m in tp]) | st.text(max_size=8)
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.integers(1985, 2110) | st.integers()
    if tp is float:
        return st.floats(allow_nan=False, allow_infinity=False, width=32)
    if tp is date:
        return _dates(today)
    if tp is datetime:
        return st.datetimes().map(lambda d: d.isoformat())
    if tp is str:
        return st.sampled_from(codes) | st.text(max_size=30) | st.sampled_from(["a", "kpi-000", "x" * 300])
    return JSON


def model_dicts(
    cls: type[BaseModel], codes: list[str], today: date, depth: int = 0
) -> st.SearchStrategy[dict]:
    hints = typing.get_type_hints(cls, include_extras=True)
    required, optional = {}, {}
    for name, field in cls.model_fields.items():
        strategy = value_for(hints[name], codes, today, depth)
        (required if field.is_required() else optional)[name] = strategy
    return st.fixed_dictionaries(required, optional=optional)


@st.composite
def mutations(draw: st.DrawFn, template: dict) -> dict:
    """A valid act with one thing wrong (or, sometimes, nothing: it may be accepted)."""
    out = dict(template)
    key = draw(st.sampled_from(sorted(out)))
    how = draw(st.sampled_from(["wrong", "drop", "extra", "same"]))
    if how == "wrong":
        out[key] = draw(JSON)
    elif how == "drop":
        del out[key]
    elif how == "extra":
        out[draw(st.text(min_size=1, max_size=8))] = draw(JSON)
    return out


def payloads(cls: type[BaseModel], template: dict, codes: list[str], today: date) -> st.SearchStrategy[Any]:
    """Anything a client could send for `cls`'s Update, a bare null included."""
    return st.one_of(model_dicts(cls, codes, today), mutations(template), JSON)
