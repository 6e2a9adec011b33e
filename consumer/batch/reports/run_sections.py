"""The HTML report's sections for a sharded run: rows/s over the run, and one table row
per shard (rows in, scored, invalid, time, rate, attempts, worker)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

Timeline = Sequence[tuple[float, int]]  # (seconds since start, rows done)


def rate_points(timeline: Timeline, buckets: int = 60) -> list[tuple[float, float]]:
    """(seconds, rows/s) over ``buckets`` equal intervals of the run."""
    if len(timeline) < 2 or timeline[-1][0] <= 0:
        return []
    end = timeline[-1][0]
    step = end / buckets
    points = []
    j = 0
    previous_rows = 0
    for b in range(1, buckets + 1):
        t = b * step
        while j + 1 < len(timeline) and timeline[j + 1][0] <= t:
            j += 1
        rows = timeline[j][1]
        points.append((t, (rows - previous_rows) / step))
        previous_rows = rows
    return points


def rate_svg(timeline: Timeline) -> str:
    """A line of rows/s over the run, as inline SVG; empty for a run too short to draw."""
    points = rate_points(timeline)
    if not points:
        return "<p>The run was too short to draw its rate.</p>"
    w, h, pad = 640, 220, 50
    end = points[-1][0]
    top = max(r for _, r in points) or 1.0
    xy = " ".join(
        f"{pad + (w - 2 * pad) * t / end:.1f},{h - pad - (h - 2 * pad) * r / top:.1f}"
        for t, r in points
    )
    total = timeline[-1][1] / timeline[-1][0]
    return (
        f'<svg width="{w}" height="{h}" role="img" aria-label="rows per second">'
        f'<polyline points="{xy}" fill="none" stroke="#4a78c2" stroke-width="2"/>'
        f'<text x="{pad}" y="{pad - 10}" font-size="11">{top:,.0f} rows/s</text>'
        f'<text x="{pad}" y="{h - pad + 16}" font-size="11">0 s</text>'
        f'<text x="{w - pad - 30}" y="{h - pad + 16}" font-size="11">{end:,.0f} s</text>'
        f"</svg><p>Mean {total:,.0f} rows/s over {end:,.1f} s.</p>"
    )


def shard_table(shards: dict[int, dict[str, Any]]) -> str:
    rows = []
    for index in sorted(shards):
        s = shards[index]
        rate = s["rows_in"] / s["seconds"] if s["seconds"] > 0 else 0.0
        cells = (
            str(index),
            html.escape(str(s["id"])),
            f"{s['rows_in']:,}",
            f"{s['scored']:,}",
            f"{s['invalid']:,}",
            f"{s['seconds']:.1f}",
            f"{rate:,.0f}",
            str(s["attempt"]),
            html.escape(str(s["worker"])),
        )
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = "".join(
        f"<th>{h}</th>"
        for h in ("#", "shard", "rows in", "scored", "invalid", "s", "rows/s", "attempt", "worker")
    )
    return (
        '<table class="shards"><thead><tr>'
        + head
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def run_sections(shards: dict[int, dict[str, Any]] | None, timeline: Timeline | None) -> str:
    if not shards:
        return ""
    return (
        "<h2>Rows per second over the run</h2>"
        + rate_svg(timeline or [])
        + f"<h2>Shards ({len(shards)})</h2>"
        + shard_table(shards)
    )
