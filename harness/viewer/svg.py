"""The solve-rate-at-k curve as an SVG element written here, not by matplotlib: a few
kilobytes, drawn in a millisecond, and styled by presentation attributes only (the viewer's
Content-Security-Policy forbids inline style), from the same RunAnalysis `report` plots."""

from __future__ import annotations

import math
from html import escape

from harness.reports.analysis import RunAnalysis
from harness.reports.scaling import ScalingFit, predict

WIDTH, HEIGHT = 720, 340
LEFT, RIGHT, TOP, BOTTOM = 56, 170, 16, 44
ORACLE, VOTE, FIRST, FIT = "#1f5fa8", "#c0392b", "#2e8b57", "#666666"


def _ticks(limit: int) -> list[int]:
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000) if t <= limit]
    if limit not in ticks and (not ticks or limit / ticks[-1] > 1.3):
        ticks.append(limit)
    return ticks


def solve_rate_curve(analysis: RunAnalysis) -> str:
    """The oracle curve at every k with its bootstrap interval (shaded, at the report's k),
    majority vote and first non-empty at the same k, and the scaling fit, on a log k axis."""
    max_k = max(analysis.max_k, 1)
    span = math.log(max(max_k, 2))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(k: float) -> float:
        return LEFT + plot_w * math.log(k) / span

    def y(rate: float) -> float:
        return TOP + plot_h * (1 - rate)

    def path(points: list[tuple[float, float]]) -> str:
        return " ".join(f"{x(k):.1f},{y(r):.1f}" for k, r in points)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="curve" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="solve rate at k of {escape(analysis.name)}">',
        f"<title>solve rate at k: {escape(analysis.name)}</title>",
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fbfbfb" '
        'stroke="#bbbbbb"/>',
    ]
    for percent in range(0, 101, 20):
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(percent / 100):.1f}" '
            f'y2="{y(percent / 100):.1f}" stroke="#e3e3e3"/>'
            f'<text x="{LEFT - 6}" y="{y(percent / 100) + 4:.1f}" text-anchor="end" '
            f'font-size="11" fill="#444">{percent}%</text>'
        )
    for k in _ticks(max_k):
        parts.append(
            f'<line x1="{x(k):.1f}" x2="{x(k):.1f}" y1="{TOP}" y2="{TOP + plot_h}" '
            f'stroke="#e3e3e3"/><text x="{x(k):.1f}" y="{TOP + plot_h + 15}" '
            f'text-anchor="middle" font-size="11" fill="#444">{k}</text>'
        )
    parts.append(
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 8}" text-anchor="middle" font-size="12" '
        'fill="#222">attempts per task k (log scale)</text>'
    )
    ks = analysis.ks
    if ks:
        band = list(zip(ks, analysis.oracle.high, strict=True))
        band += list(zip(reversed(ks), reversed(analysis.oracle.low), strict=True))
        parts.append(f'<polygon class="interval" points="{path(band)}" fill="{ORACLE}" '
                     'fill-opacity="0.15" stroke="none"/>')
        measured = list(enumerate(analysis.measured_curve, start=1))
        parts.append(f'<polyline class="oracle" points="{path(measured)}" fill="none" '
                     f'stroke="{ORACLE}" stroke-width="2.2"/>')
        for name, color, dash in (("vote", VOTE, "2,3"), ("first", FIRST, "6,3")):
            curve = analysis.selections.get(name)
            if curve is None:
                continue
            points = list(zip(ks, curve.rate, strict=True))
            parts.append(f'<polyline class="{name}" points="{path(points)}" fill="none" '
                         f'stroke="{color}" stroke-width="1.6" stroke-dasharray="{dash}"/>')
            parts += [f'<circle cx="{x(k):.1f}" cy="{y(r):.1f}" r="2.6" fill="{color}"/>'
                      for k, r in points]
        if isinstance(analysis.fit, ScalingFit):
            fit = analysis.fit
            reach = [math.exp(span * step / 60) for step in range(61)]
            rates = [min(1.0, max(0.0, float(predict(fit.a, fit.b, k)))) for k in reach]
            fitted = path(list(zip(reach, rates, strict=True)))
            parts.append(f'<polyline class="fit" points="{fitted}" fill="none" '
                         f'stroke="{FIT}" stroke-width="1" stroke-dasharray="4,4"/>')
    legend = [("solve rate (oracle)", ORACLE, ""), (f"{100 * analysis.level:.0f}% interval",
              ORACLE, "band"), ("majority vote", VOTE, "2,3"), ("first non-empty", FIRST, "6,3")]
    if isinstance(analysis.fit, ScalingFit):
        legend.append((f"fit exp({analysis.fit.a:.2f} k^{analysis.fit.b:.2f})", FIT, "4,4"))
    for row, (label, color, dash) in enumerate(legend):
        top = TOP + 8 + 18 * row
        left = WIDTH - RIGHT + 14
        if dash == "band":
            parts.append(f'<rect x="{left}" y="{top - 5}" width="22" height="10" fill="{color}" '
                         'fill-opacity="0.15"/>')
        else:
            parts.append(f'<line x1="{left}" x2="{left + 22}" y1="{top}" y2="{top}" '
                         f'stroke="{color}" stroke-width="2"'
                         + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
        parts.append(f'<text x="{left + 28}" y="{top + 4}" font-size="11" fill="#222">'
                     f"{escape(label)}</text>")
    parts.append("</svg>")
    return "".join(parts)
