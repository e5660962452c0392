"""Plots of a report: solve rate against k (log axis) with the scaling fit and the selection
curves, and solve rate against dollars for several runs. matplotlib is imported only when a
plot is drawn, through its object API on the Agg canvas: no pyplot, no global backend switch."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from harness.reports.analysis import RunAnalysis
from harness.reports.scaling import EXTRAPOLATION_LIMIT, ScalingFit, predict


def _figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 4.8), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def solve_rate_vs_k(analyses: list[RunAnalysis]):
    figure = _figure()
    axes = figure.add_subplot()
    colors = iter(_palette())
    for analysis in analyses:
        if not analysis.ks:
            continue
        color = next(colors)
        if analysis.external:
            axes.plot([1], [100 * analysis.oracle.rate[0]], marker="D", linestyle="none",
                      color=color, label=f"{analysis.name} (published, pass@1)")
            continue
        ks = np.arange(1, len(analysis.measured_curve) + 1)
        axes.plot(ks, 100 * np.array(analysis.measured_curve), color=color, linewidth=2,
                  label=f"{analysis.name}: solve rate (oracle)")
        axes.fill_between(analysis.ks, [100 * v for v in analysis.oracle.low],
                          [100 * v for v in analysis.oracle.high], color=color, alpha=0.15)
        vote = analysis.selections["vote"]
        axes.plot(analysis.ks, [100 * v for v in vote.rate], color=color, linestyle=":",
                  marker="o", markersize=3, label=f"{analysis.name}: majority vote")
        if isinstance(analysis.fit, ScalingFit):
            fit = analysis.fit
            reach = np.geomspace(1, EXTRAPOLATION_LIMIT * fit.max_k, 200)
            axes.plot(reach, 100 * predict(fit.a, fit.b, reach), color=color, linestyle="--",
                      linewidth=1,
                      label=f"{analysis.name}: fit exp({fit.a:.2f} k^{fit.b:.2f})")
    axes.set_xscale("log")
    axes.set_xlabel("attempts per task k (log scale)")
    axes.set_ylabel("solve rate (%)")
    axes.set_ylim(0, 100)
    axes.grid(True, which="both", alpha=0.3)
    axes.set_title("Solve rate at k; the gap to the vote is what selection leaves")
    axes.legend(fontsize=7, loc="upper left")
    return figure


def solve_rate_vs_dollars(analyses: list[RunAnalysis]):
    figure = _figure()
    axes = figure.add_subplot()
    colors = iter(_palette())
    skipped = []
    for analysis in analyses:
        color = next(colors)
        if analysis.dollars is None or not analysis.ks:
            skipped.append(analysis.name)
            continue
        axes.plot(analysis.dollars, [100 * v for v in analysis.oracle.rate], color=color,
                  marker="o", label=f"{analysis.name}: solve rate (oracle)")
        axes.plot(analysis.dollars, [100 * v for v in analysis.selections["vote"].rate],
                  color=color, marker="o", markersize=3, linestyle=":",
                  label=f"{analysis.name}: majority vote")
    axes.set_xscale("log")
    axes.set_xlabel("dollars for k attempts on every task (log scale)")
    axes.set_ylabel("solve rate (%)")
    axes.set_ylim(0, 100)
    axes.grid(True, which="both", alpha=0.3)
    title = "Solve rate against dollars"
    if skipped:
        title += f" (no dollars: {', '.join(skipped)})"
    axes.set_title(title, fontsize=9 if skipped else None)
    if axes.lines:
        axes.legend(fontsize=7, loc="upper left")
    return figure


def _palette() -> list[str]:
    return ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf"] * 10


def svg_text(figure) -> str:
    """The figure as an inline SVG element (no XML prolog), for one self-contained page."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    return inline_svg(buffer.getvalue())


def inline_svg(text: str) -> str:
    """An SVG document without its XML prolog and doctype, to sit inside HTML."""
    return text[text.index("<svg") :]


def save(figure, out_dir: Path, stem: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix in ("png", "svg"):
        path = out_dir / f"{stem}.{suffix}"
        figure.savefig(path, format=suffix, dpi=110)
        paths.append(path)
    return paths


def all_figures(analyses: list[RunAnalysis]) -> dict[str, object]:
    return {
        "solve_rate_vs_k": solve_rate_vs_k(analyses),
        "solve_rate_vs_dollars": solve_rate_vs_dollars(analyses),
    }
