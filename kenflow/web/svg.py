"""Small charts as inline SVG, drawn on the server: the machines are offline and the pages must
work without JavaScript, so no chart library. Every label is escaped; fiscal years read R3."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

from models.era import format_fiscal_year
from models.kpi import KpiActual, KpiDefinition, KpiStatus
from models.kpi_values import format_value

STATUS_COLOURS: dict[str, str] = {
    KpiStatus.achieved.value: "#2e7d32",
    KpiStatus.on_track.value: "#1565c0",
    KpiStatus.behind.value: "#e65100",
    KpiStatus.no_data.value: "#9e9e9e",
}


def _fy(fy: int) -> str:
    try:
        return format_fiscal_year(fy, style="short")
    except ValueError:
        return str(fy)


def bar_chart(bars: Sequence[tuple[str, int]], title: str, width: int = 520, height: int = 180) -> Markup:
    """Vertical bars with their value on top (zones formed per fiscal year)."""
    if not bars:
        return Markup('<p class="muted">データがありません</p>')
    top = max(v for _, v in bars) or 1
    pad_l, pad_b, pad_t = 28, 26, 18
    slot = (width - pad_l) / len(bars)
    bar_w = min(48.0, max(4.0, slot * 0.7))
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    base = height - pad_b
    for i, (label, value) in enumerate(bars):
        h = (base - pad_t) * value / top
        x = pad_l + i * slot + (slot - bar_w) / 2
        parts.append(
            f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="#3f6fb5">'
            f"<title>{escape(label)}: {value}</title></rect>"
        )
        parts.append(
            f'<text x="{x + bar_w / 2:.1f}" y="{base - h - 4:.1f}" text-anchor="middle" '
            f'font-size="11">{value}</text>'
        )
        parts.append(
            f'<text x="{x + bar_w / 2:.1f}" y="{height - 8}" text-anchor="middle" '
            f'font-size="11">{escape(label)}</text>'
        )
    parts.append(f'<line x1="{pad_l}" y1="{base}" x2="{width}" y2="{base}" stroke="#666"/></svg>')
    return Markup("".join(parts))


def stacked_bars(
    rows: Sequence[tuple[str, Mapping[str, int]]], labels: Mapping[str, str], title: str, width: int = 520
) -> Markup:
    """Horizontal 100% bars, one per group (KPI status by policy field), with a legend."""
    if not rows:
        return Markup('<p class="muted">CHECK済みのKPIはまだありません</p>')
    row_h, pad_l, legend_h = 22, 150, 24
    height = legend_h + row_h * len(rows) + 4
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    x = pad_l
    for status, colour in STATUS_COLOURS.items():
        parts.append(
            f'<rect x="{x}" y="4" width="12" height="12" fill="{colour}"/>'
            f'<text x="{x + 16}" y="14" font-size="11">{escape(labels.get(status, status))}</text>'
        )
        x += 80
    span = width - pad_l - 8
    for i, (label, counts) in enumerate(rows):
        y = legend_h + i * row_h
        total = sum(counts.values()) or 1
        parts.append(
            f'<text x="{pad_l - 6}" y="{y + 15}" text-anchor="end" font-size="12">{escape(label)}</text>'
        )
        x0 = float(pad_l)
        for status, colour in STATUS_COLOURS.items():
            n = counts.get(status, 0)
            if not n:
                continue
            w = span * n / total
            parts.append(
                f'<rect x="{x0:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" fill="{colour}">'
                f"<title>{escape(label)} {escape(labels.get(status, status))}: {n}</title></rect>"
            )
            x0 += w
    parts.append("</svg>")
    return Markup("".join(parts))


def kpi_chart(
    kpi: KpiDefinition, actuals: Sequence[KpiActual], width: int = 300, height: int = 120
) -> Markup:
    """Baseline → actuals → target: the planned straight line dashed, the actuals solid, an
    estimate (見込) hollow. Years on the x axis in 和暦 short form."""
    t = kpi.current
    mine = sorted((a for a in actuals if a.kpi_id == kpi.id), key=lambda a: (a.fy, not a.estimate))
    by_fy: dict[int, KpiActual] = {}
    for a in mine:  # a confirmed figure wins over an estimate
        if a.fy not in by_fy or by_fy[a.fy].estimate:
            by_fy[a.fy] = a
    years = [t.baseline.fy, t.target.fy, *by_fy]
    values = [t.baseline.value, t.target.value, *(a.value for a in by_fy.values())]
    x_lo, x_hi = min(years), max(years)
    y_lo, y_hi = min(values), max(values)
    if y_hi == y_lo:
        y_lo, y_hi = y_lo - 1, y_hi + 1
    pad_l, pad_r, pad_t, pad_b = 8, 8, 14, 22

    def px(fy: int) -> float:
        return pad_l + (width - pad_l - pad_r) * ((fy - x_lo) / (x_hi - x_lo) if x_hi > x_lo else 0.5)

    def py(v: float) -> float:
        return pad_t + (height - pad_t - pad_b) * (1 - (v - y_lo) / (y_hi - y_lo))

    name = escape(kpi.name)
    parts = [
        f'<svg class="kpi-chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-label="{name}"><title>{name}</title>',
        f'<line x1="{px(t.baseline.fy):.1f}" y1="{py(t.baseline.value):.1f}" x2="{px(t.target.fy):.1f}" '
        f'y2="{py(t.target.value):.1f}" stroke="#999" stroke-dasharray="4 3"/>',
    ]
    pts = [(t.baseline.fy, t.baseline.value)] + [(fy, a.value) for fy, a in sorted(by_fy.items())]
    if len(pts) > 1:
        path = " ".join(f"{px(fy):.1f},{py(v):.1f}" for fy, v in pts)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#3f6fb5" stroke-width="2"/>')
    for label, fy, v, colour in (
        ("基準値", t.baseline.fy, t.baseline.value, "#555"),
        ("目標値", t.target.fy, t.target.value, "#2e7d32"),
    ):
        parts.append(
            f'<rect x="{px(fy) - 4:.1f}" y="{py(v) - 4:.1f}" width="8" height="8" fill="{colour}">'
            f"<title>{label} {format_value(v)}{escape(kpi.unit)} ({_fy(fy)})</title></rect>"
        )
    for fy, a in sorted(by_fy.items()):
        fill = "#fff" if a.estimate else "#3f6fb5"
        kind = "見込" if a.estimate else "実績"
        parts.append(
            f'<circle cx="{px(fy):.1f}" cy="{py(a.value):.1f}" r="4" fill="{fill}" stroke="#3f6fb5" '
            f'stroke-width="2"><title>{kind} {format_value(a.value)}{escape(kpi.unit)} ({_fy(fy)})</title>'
            f"</circle>"
        )
    for fy in sorted(set(years)):
        parts.append(
            f'<text x="{px(fy):.1f}" y="{height - 6}" text-anchor="middle" font-size="10">{_fy(fy)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


__all__ = ["bar_chart", "kpi_chart", "stacked_bars"]
