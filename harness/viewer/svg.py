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


class _Frame:
    """Where a (k, rate) point lands in the plot: log k across, rate up."""

    def __init__(self, max_k: int) -> None:
        self.max_k = max(max_k, 1)
        self.span = math.log(max(self.max_k, 2))
        self.width, self.height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(self, k: float) -> float:
        return LEFT + self.width * math.log(k) / self.span

    def y(self, rate: float) -> float:
        return TOP + self.height * (1 - rate)

    def path(self, points: list[tuple[float, float]]) -> str:
        return " ".join(f"{self.x(k):.1f},{self.y(r):.1f}" for k, r in points)


def solve_rate_curve(analysis: RunAnalysis) -> str:
    """The oracle curve at every k with its bootstrap interval (shaded, at the report's k),
    majority vote and first non-empty at the same k, and the scaling fit, on a log k axis."""
    frame = _Frame(analysis.max_k)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="curve" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="solve rate at k of {escape(analysis.name)}">',
        f"<title>solve rate at k: {escape(analysis.name)}</title>",
        *_axes(frame),
    ]
    if analysis.ks:
        parts += _series(frame, analysis)
    parts += _legend(analysis)
    parts.append("</svg>")
    return "".join(parts)


def _axes(frame: _Frame) -> list[str]:
    parts = [
        f'<rect x="{LEFT}" y="{TOP}" width="{frame.width}" height="{frame.height}" '
        'fill="#fbfbfb" stroke="#bbbbbb"/>'
    ]
    for percent in range(0, 101, 20):
        level = frame.y(percent / 100)
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + frame.width}" y1="{level:.1f}" '
            f'y2="{level:.1f}" stroke="#e3e3e3"/>'
            f'<text x="{LEFT - 6}" y="{level + 4:.1f}" text-anchor="end" '
            f'font-size="11" fill="#444">{percent}%</text>'
        )
    for k in _ticks(frame.max_k):
        parts.append(
            f'<line x1="{frame.x(k):.1f}" x2="{frame.x(k):.1f}" y1="{TOP}" '
            f'y2="{TOP + frame.height}" stroke="#e3e3e3"/><text x="{frame.x(k):.1f}" '
            f'y="{TOP + frame.height + 15}" text-anchor="middle" font-size="11" '
            f'fill="#444">{k}</text>'
        )
    parts.append(
        f'<text x="{LEFT + frame.width / 2}" y="{HEIGHT - 8}" text-anchor="middle" '
        'font-size="12" fill="#222">attempts per task k (log scale)</text>'
    )
    return parts


def _series(frame: _Frame, analysis: RunAnalysis) -> list[str]:
    ks = analysis.ks
    band = list(zip(ks, analysis.oracle.high, strict=True))
    band += list(zip(reversed(ks), reversed(analysis.oracle.low), strict=True))
    measured = list(enumerate(analysis.measured_curve, start=1))
    parts = [
        f'<polygon class="interval" points="{frame.path(band)}" fill="{ORACLE}" '
        'fill-opacity="0.15" stroke="none"/>',
        f'<polyline class="oracle" points="{frame.path(measured)}" fill="none" '
        f'stroke="{ORACLE}" stroke-width="2.2"/>',
    ]
    for name, color, dash in (("vote", VOTE, "2,3"), ("first", FIRST, "6,3")):
        curve = analysis.selections.get(name)
        if curve is None:
            continue
        points = list(zip(ks, curve.rate, strict=True))
        parts.append(f'<polyline class="{name}" points="{frame.path(points)}" fill="none" '
                     f'stroke="{color}" stroke-width="1.6" stroke-dasharray="{dash}"/>')
        parts += [f'<circle cx="{frame.x(k):.1f}" cy="{frame.y(r):.1f}" r="2.6" '
                  f'fill="{color}"/>' for k, r in points]
    if isinstance(analysis.fit, ScalingFit):
        fit = analysis.fit
        reach = [math.exp(frame.span * step / 60) for step in range(61)]
        rates = [min(1.0, max(0.0, float(predict(fit.a, fit.b, k)))) for k in reach]
        fitted = frame.path(list(zip(reach, rates, strict=True)))
        parts.append(f'<polyline class="fit" points="{fitted}" fill="none" '
                     f'stroke="{FIT}" stroke-width="1" stroke-dasharray="4,4"/>')
    return parts


def _legend(analysis: RunAnalysis) -> list[str]:
    legend = [("solve rate (oracle)", ORACLE, ""), (f"{100 * analysis.level:.0f}% interval",
              ORACLE, "band"), ("majority vote", VOTE, "2,3"), ("first non-empty", FIRST, "6,3")]
    if isinstance(analysis.fit, ScalingFit):
        legend.append((f"fit exp({analysis.fit.a:.2f} k^{analysis.fit.b:.2f})", FIT, "4,4"))
    parts = []
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
    return parts
