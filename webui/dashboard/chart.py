"""A small stacked bar chart drawn on the server as inline SVG: no script, no library.

Colours are SVG presentation attributes, which the dashboard's content security policy allows
(it forbids inline ``style``); every bar has a ``<title>``, which browsers show on hover.
"""

from __future__ import annotations

import dataclasses

from markupsafe import Markup, escape

WIDTH, HEIGHT, AXIS = 720, 120, 16


@dataclasses.dataclass
class Bar:
    """One bar: its label and its (series, value) parts, stacked bottom to top."""

    label: str
    parts: list[tuple[str, int]]

    @property
    def total(self) -> int:
        """The bar's height in values."""
        return sum(value for _name, value in self.parts)


def stacked_bars(bars: list[Bar], colours: dict[str, str], title: str = "Jobs") -> Markup:
    """The SVG of ``bars``, scaled to the highest; series without a colour are grey."""
    top = max((bar.total for bar in bars), default=0) or 1
    step = WIDTH / max(1, len(bars))
    room = HEIGHT - AXIS
    out = [f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
           f'width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">'
           f'<title>{escape(title)}</title>',
           f'<line x1="0" y1="{room}" x2="{WIDTH}" y2="{room}" stroke="#c9ced6"/>',
           f'<text x="2" y="10" font-size="10" fill="#6b7280">{top}</text>']
    for index, bar in enumerate(bars):
        x = index * step + 1
        y = float(room)
        details = ", ".join(f"{name} {value}" for name, value in bar.parts if value)
        out.append(f'<g><title>{escape(bar.label)}: {escape(details or "no jobs")}</title>')
        out.append(f'<rect x="{x:.1f}" y="0" width="{step - 2:.1f}" height="{room}" '
                   'fill="transparent"/>')
        for name, value in bar.parts:
            if not value:
                continue
            height = value / top * (room - 12)
            y -= height
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{step - 2:.1f}" '
                       f'height="{height:.1f}" fill="{colours.get(name, "#9ca3af")}" '
                       f'data-series="{escape(name)}" data-value="{value}"/>')
        out.append("</g>")
        if index % 3 == 0:
            out.append(f'<text x="{x:.1f}" y="{HEIGHT - 3}" font-size="10" '
                       f'fill="#6b7280">{escape(bar.label)}</text>')
    out.append("</svg>")
    return Markup("".join(out))
