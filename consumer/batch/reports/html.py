"""The HTML report of a batch run: score distribution, decision mix, the shadow comparison
and, for a sharded run, its rate and shards."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from consumer.batch.reports.comparison import ShadowComparison
from consumer.batch.reports.run_sections import Timeline, run_sections
from consumer.batch.reports.stats import BINS, BatchStats, pct
from consumer.scoring.schemas import DECISIONS


def write_html(
    stats: BatchStats,
    path: Path,
    title: str,
    shards: dict[int, dict[str, Any]] | None = None,
    timeline: Timeline | None = None,
    comparison: ShadowComparison | None = None,
) -> None:
    """A self-contained page: score distribution (log scale) and decision mix as SVG;
    with --compare-model the comparison; for a sharded run also rows/s over the run and
    a table of the shards."""
    w, h, pad = 640, 260, 40
    bar_w = (w - 2 * pad) / len(stats.histogram)
    top = np.log10(max(int(stats.histogram.max()), 1) + 1)
    bars = []
    for i, n in enumerate(stats.histogram):
        bh = (h - 2 * pad) * (np.log10(int(n) + 1) / top if top else 0)
        x, y = pad + i * bar_w, h - pad - bh
        bars.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 2:.1f}" height="{bh:.1f}" '
            f'fill="#4a78c2"><title>{BINS[i]:.2f}-{BINS[i + 1]:.2f}: {int(n):,}</title></rect>'
        )
    ticks = "".join(
        f'<text x="{pad + i * bar_w * 4:.1f}" y="{h - pad + 16}" font-size="11">'
        f"{BINS[i * 4]:.1f}</text>"
        for i in range(6)
    )
    mix = []
    x = float(pad)
    colors = {"APPROVE": "#3c9a5f", "REVIEW": "#e0a030", "DECLINE": "#c8413b"}
    for d in DECISIONS:
        share = stats.decisions[d] / stats.scored if stats.scored else 0.0
        width = (w - 2 * pad) * share
        mix.append(
            f'<rect x="{x:.1f}" y="10" width="{width:.1f}" height="30" fill="{colors[d]}">'
            f"<title>{d}: {stats.decisions[d]:,}</title></rect>"
        )
        x += width
    legend = " ".join(
        f'<span style="color:{colors[d]}">&#9632; {d} {stats.decisions[d]:,} '
        f"({pct(stats.decisions[d], stats.scored)})</span>"
        for d in DECISIONS
    )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}
pre{{background:#f4f4f4;padding:1em}}
table.shards{{border-collapse:collapse}}
.shards td,.shards th{{padding:2px 8px;text-align:right}}</style></head>
<body><h1>{html.escape(title)}</h1>
<h2>Score distribution</h2><p>Scored rows per 0.05 score bin (log scale).</p>
<svg width="{w}" height="{h}" role="img" aria-label="score histogram">{"".join(bars)}{ticks}</svg>
<h2>Decision mix</h2>
<svg width="{w}" height="50" role="img" aria-label="decisions">{"".join(mix)}</svg>
<p>{legend}</p>
<h2>Summary</h2><pre>{html.escape(stats.summary())}</pre>
{comparison.html() if comparison is not None else ""}
{run_sections(shards, timeline)}
</body></html>
"""
    path.write_text(page)
