"""A server-rendered SVG chart of one action's deliveries over time (no script, no assets).

Bars: delivered (green) and failed attempts (red, stacked on top) per bucket, on the left
scale; the line: jobs waiting at the end of each bucket, on its own scale (right). Every bar
has a <title> with its exact numbers, so hovering (or a screen reader) reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

from markupsafe import Markup

from bridge.admin.activity import Bucket

WIDTH, HEIGHT = 720, 180
LEFT, RIGHT, TOP, BOTTOM = 36, 36, 12, 24


def svg(name: str, buckets: Sequence[Bucket], bucket_s: int) -> Markup:
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    count = max(len(buckets), 1)
    step = inner_w / count
    top_bars = max([b.delivered + b.failed for b in buckets] + [1])
    top_queue = max([b.queued for b in buckets] + [1])
    delivered = sum(b.delivered for b in buckets)
    failed = sum(b.failed for b in buckets)
    label = (
        f"{name}: {delivered} delivered, {attempts(failed)}; "
        f"at most {max([b.queued for b in buckets] + [0])} waiting"
    )
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(label)}</title>",
        f'<line class="axis" x1="{LEFT}" y1="{TOP + inner_h}" x2="{LEFT + inner_w}" '
        f'y2="{TOP + inner_h}"/>',
        f'<text class="tick" x="{LEFT - 4}" y="{TOP + 8}" text-anchor="end">{top_bars}</text>',
        f'<text class="tick" x="{LEFT - 4}" y="{TOP + inner_h}" text-anchor="end">0</text>',
        f'<text class="tick queue-tick" x="{LEFT + inner_w + 4}" y="{TOP + 8}">{top_queue}</text>',
    ]
    points = []
    for i, b in enumerate(buckets):
        x = LEFT + i * step
        ok_h = inner_h * b.delivered / top_bars
        bad_h = inner_h * b.failed / top_bars
        base = TOP + inner_h
        when = _when(b.start, bucket_s)
        tip = f"{when}: {b.delivered} delivered, {attempts(b.failed)}, {b.queued} waiting"
        parts.append(f'<g class="bucket" data-start="{b.start:.0f}"><title>{escape(tip)}</title>')
        parts.append(
            f'<rect class="hit" x="{x:.1f}" y="{TOP}" width="{step:.1f}" height="{inner_h}"/>'
        )
        if b.delivered:
            parts.append(
                f'<rect class="delivered" x="{x + 1:.1f}" y="{base - ok_h:.1f}" '
                f'width="{max(step - 2, 1):.1f}" height="{ok_h:.1f}"/>'
            )
        if b.failed:
            parts.append(
                f'<rect class="failed" x="{x + 1:.1f}" y="{base - ok_h - bad_h:.1f}" '
                f'width="{max(step - 2, 1):.1f}" height="{bad_h:.1f}"/>'
            )
        parts.append("</g>")
        points.append(f"{x + step / 2:.1f},{base - inner_h * b.queued / top_queue:.1f}")
    if points:
        parts.append(f'<polyline class="queue" points="{" ".join(points)}"/>')
    for i in (0, count // 2, count - 1):
        if 0 <= i < len(buckets):
            x = LEFT + i * step + step / 2
            parts.append(
                f'<text class="tick" x="{x:.1f}" y="{HEIGHT - 6}" text-anchor="middle">'
                f"{_when(buckets[i].start, bucket_s)}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def attempts(failed: int) -> str:
    return f"{failed} failed attempt{'' if failed == 1 else 's'}"


def _when(ts: float, bucket_s: int) -> str:
    at = datetime.fromtimestamp(ts, UTC)
    return at.strftime("%H:%M") if bucket_s < 3 * 3600 else at.strftime("%b %d %H:%M")
