"""Reading the KPI figures people type: "9,259", "２１１，１４５千円", "▲1,200", "策定済".

Figures come from vision PDFs and clerks' spreadsheets, so they carry thousands separators,
full-width digits and a trailing unit. The unit is checked against the KPI's own unit, not
applied: 211,145千円 is stored as 211145 with unit 千円, and a figure typed in 円 for a 千円
KPI is refused rather than silently 1,000 times too large.
"""

from __future__ import annotations

import math
import re
import unicodedata

# Milestone states (DOMAIN.md §4: 未策定 → 策定済, "体制を維持"): 1 = reached or kept.
MILESTONE_LABELS: dict[str, float] = {
    "未策定": 0.0,
    "未": 0.0,
    "未達成": 0.0,
    "未達": 0.0,
    "未実施": 0.0,
    "未完了": 0.0,
    "未整備": 0.0,
    "×": 0.0,
    "策定済": 1.0,
    "策定済み": 1.0,
    "済": 1.0,
    "済み": 1.0,
    "維持": 1.0,
    "達成": 1.0,
    "実施済": 1.0,
    "実施済み": 1.0,
    "完了": 1.0,
    "整備済": 1.0,
    "整備済み": 1.0,
    "○": 1.0,
}

# Accounting sheets write negatives as ▲1,200 or △1,200; U+2212 is the typographic minus.
_NEGATIVE_MARKS = ("-", "\u2212", "▲", "△")
_NUMBER = re.compile(r"(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?P<frac>\.\d+)?")


class ValueFormatError(ValueError):
    """A KPI figure that cannot be read as a number or a milestone state."""


def normalize_text(text: str) -> str:
    """NFKC folds full-width digits, commas and ％ to ASCII; whitespace is dropped."""
    return "".join(unicodedata.normalize("NFKC", text).split())


def milestone_value(text: str) -> float | None:
    """0.0 or 1.0 for a milestone label such as 策定済, or None if the text is not one."""
    return MILESTONE_LABELS.get(normalize_text(text))


def parse_value(text: str | int | float, unit: str | None = None) -> float:
    """The number in a KPI figure, or a milestone label as 0/1.

    A trailing unit is allowed; when `unit` is given, a different trailing unit is an error
    (円 typed for a 千円 KPI). Raises ValueFormatError with a Japanese and English reason.
    """
    if isinstance(text, bool):
        raise ValueFormatError(f"値「{text}」は数値ではありません (value {text!r} is not a number)")
    if isinstance(text, int | float):
        return _finite(float(text), text)
    raw = text
    s = normalize_text(text)
    if not s:
        raise ValueFormatError("値が空です (value is empty)")
    label = MILESTONE_LABELS.get(s)
    if label is not None:
        return label
    sign = 1.0
    for mark in _NEGATIVE_MARKS:
        if s.startswith(mark):
            sign, s = -1.0, s[len(mark) :]
            break
    m = _NUMBER.match(s)
    if not m:
        raise ValueFormatError(
            f"値「{raw}」を数値として読めません。例: 9,259 / 53.0 / 策定済 "
            f"(cannot read {raw!r} as a number; e.g. 9,259, 53.0 or 策定済)"
        )
    suffix = s[m.end() :]
    if suffix and (re.search(r"[\d,.]", suffix) or len(suffix) > 10):
        raise ValueFormatError(
            f"値「{raw}」の桁区切りまたは末尾が正しくありません "
            f"(malformed number or thousands separators in {raw!r})"
        )
    if suffix and unit is not None and suffix != normalize_text(unit):
        expected = f"「{unit}」" if unit else "なし"
        raise ValueFormatError(
            f"値「{raw}」の単位「{suffix}」がKPIの単位{expected}と異なります "
            f"(unit {suffix!r} in {raw!r} differs from the KPI's unit {unit!r})"
        )
    number = float(m.group("int").replace(",", "") + (m.group("frac") or ""))
    return _finite(sign * number, raw)


def _finite(x: float, raw: object) -> float:
    if not math.isfinite(x):
        raise ValueFormatError(f"値「{raw}」は有限の数値ではありません (value {raw!r} is not finite)")
    return x


def format_value(x: float | None) -> str:
    """Figures as people write them: 9,259 / 53.5 / 211,145; integers without a trailing .0."""
    if x is None:
        return ""
    if float(x).is_integer():
        return f"{int(x):,}"
    return f"{x:,.2f}".rstrip("0").rstrip(".")
