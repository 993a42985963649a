"""`harkbot report`: one self-contained HTML file with charts, for a manager or a deck.

The charts are PNGs drawn by matplotlib's Agg canvas (no pyplot, so no global backend or GUI)
and embedded as base64 data URIs, so the .html travels alone by mail or chat; `--png-dir`
writes the same PNGs as files for slides. Every piece of text that comes from a post, an
author, an alert or the config is HTML-escaped: posts are hostile input, and a `<script>`
in a tweet must arrive as text. Links are kept only when they are http(s).
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

from bot import history
from bot.history import AlertMark, BrandInfo, Row, Stats

SEVERITY_COLOURS = {"critical": "#c0392b", "warning": "#e67e22", "info": "#2980b9"}
LABEL_COLOURS = {"negative": "#d9534f", "neutral": "#b0b7bf", "positive": "#4caf50"}


@dataclass(frozen=True)
class Chart:
    filename: str  # e.g. "volume.png"
    title: str
    png: bytes

    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass(frozen=True)
class Report:
    html: str
    charts: tuple[Chart, ...]
    stats: Stats
    alerts: tuple[AlertMark, ...]
    posts: dict[str, tuple[Row, ...]]


def build_report(store: Any, brands: Sequence[BrandInfo], start: datetime, end: datetime, *,
                 every: str, versus: Sequence[BrandInfo], top: int, generated: datetime) -> Report:
    """Read the history of [start, end) from `store` (protocol Reports: either backend) and
    render the report (HTML and its PNG charts)."""
    result = history.stats(store, brands, start, end, every=every, versus=versus, top=10)
    marks = tuple(history.alerts(store, start, end, [b.key for b in brands]))
    posts = {b.key: tuple(history.top_posts(store, b.key, start, end, limit=top)) for b in brands}
    charts = (volume_chart(result, marks), sentiment_chart(result), share_chart(result))
    charts = tuple(c for c in charts if c is not None)
    return Report(render_html(result, marks, posts, charts, generated), charts, result, marks, posts)


# -- charts ---------------------------------------------------------------------------------


def _figure(width: float = 10, height: float = 4):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _time_axis(ax, every: str) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=3, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.grid(True, axis="y", alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _naive(at: datetime) -> datetime:
    """matplotlib draws UTC times; dropping the (UTC) zone keeps it from converting them."""
    return at.replace(tzinfo=None)


def volume_chart(result: Stats, marks: Sequence[AlertMark]) -> Chart:
    """Mentions per period for each brand, with a line at each alert, coloured by severity."""
    fig = _figure()
    ax = fig.add_subplot()
    for s in result.brands:
        ax.plot([_naive(p.start) for p in s.periods], [p.mix.count for p in s.periods], label=s.brand.name,
                linewidth=2 if s.brand.kind == "brand" else 1.4, marker="o" if len(s.periods) <= 40 else None,
                markersize=3)
    seen = set()
    for mark in marks:
        colour = SEVERITY_COLOURS.get(mark.severity, "#7f8c8d")
        label = f"alert ({mark.severity})" if mark.severity not in seen else None
        seen.add(mark.severity)
        ax.axvline(_naive(mark.fired_at), color=colour, linestyle="--", linewidth=1.2, alpha=0.85, label=label)
    ax.set_ylabel(f"mentions per {result.every}")
    ax.set_title("Volume over time" + (f", {len(marks)} alerts marked" if marks else ""), loc="left")
    _time_axis(ax, result.every)
    ax.legend(loc="upper left", fontsize="small", frameon=False)
    return Chart("volume.png", "Volume over time", _png(fig))


def sentiment_chart(result: Stats) -> Chart:
    """Per brand of kind `brand` (else the first): mentions per period stacked by sentiment,
    and the mean polarity on a second axis."""
    chosen = [s for s in result.brands if s.brand.kind == "brand"] or list(result.brands[:1])
    fig = _figure(10, 3.2 * max(1, len(chosen)))
    axes = fig.subplots(max(1, len(chosen)), 1, squeeze=False)[:, 0]
    for ax, s in zip(axes, chosen):
        x = [_naive(p.start) for p in s.periods]
        neg = [p.mix.negative for p in s.periods]
        neu = [p.mix.neutral for p in s.periods]
        pos = [p.mix.positive for p in s.periods]
        ax.stackplot(x, neg, neu, pos, labels=("negative", "neutral", "positive"),
                     colors=[LABEL_COLOURS[k] for k in ("negative", "neutral", "positive")], alpha=0.85)
        ax.set_ylabel(f"mentions per {result.every}")
        ax.set_title(f"Sentiment over time: {s.brand.name}", loc="left")
        _time_axis(ax, result.every)
        mean = ax.twinx()
        mean.plot(x, [p.mix.mean if p.mix.mean is not None else float("nan") for p in s.periods], color="#222",
                  linewidth=1.2, label="mean polarity")
        mean.set_ylim(-1, 1)
        mean.set_ylabel("mean polarity")
        mean.spines["top"].set_visible(False)
        handles, labels = ax.get_legend_handles_labels()
        h2, l2 = mean.get_legend_handles_labels()
        ax.legend(handles + h2, labels + l2, loc="upper left", fontsize="small", frameon=False, ncol=4)
    return Chart("sentiment.png", "Sentiment over time", _png(fig))


def share_chart(result: Stats) -> Chart | None:
    """Share of voice per period, stacked to 100%, among the brands that have one."""
    compared = [s for s in result.brands if s.share_of_voice is not None]
    if not compared:
        return None
    fig = _figure(10, 3.6)
    ax = fig.add_subplot()
    x = [_naive(p.start) for p in compared[0].periods]
    ys = [[(p.share_of_voice or 0.0) * 100 for p in s.periods] for s in compared]
    labels = [f"{s.brand.name} ({s.share_of_voice:.0%})" for s in compared]
    ax.stackplot(x, *ys, labels=labels, alpha=0.9)
    ax.set_ylim(0, 100)
    ax.set_ylabel("% of mentions")
    ax.set_title("Share of voice", loc="left")
    _time_axis(ax, result.every)
    ax.legend(loc="upper left", fontsize="small", frameon=True, ncol=min(4, len(compared)))
    return Chart("share_of_voice.png", "Share of voice", _png(fig))


# -- HTML -----------------------------------------------------------------------------------

_CSS = """
body{font:15px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:#1d2329;max-width:1040px;margin:2em auto;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.1em} h2{margin-top:1.8em;border-bottom:1px solid #e3e6ea;padding-bottom:.2em}
.muted{color:#68717a} table{border-collapse:collapse;margin:.6em 0;width:100%}
th,td{padding:.35em .6em;border-bottom:1px solid #eceff2;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums} img{max-width:100%;height:auto}
blockquote{margin:.8em 0;padding:.5em 1em;border-left:4px solid #c8ced4;background:#f7f8f9;white-space:pre-wrap;
overflow-wrap:anywhere} blockquote.negative{border-color:#d9534f} blockquote.positive{border-color:#4caf50}
.sev-critical{color:#c0392b;font-weight:600} .sev-warning{color:#e67e22;font-weight:600}
"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _safe_url(url: str) -> str | None:
    return url if url.lower().startswith(("https://", "http://")) else None


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def render_html(result: Stats, marks: Sequence[AlertMark], posts: dict[str, tuple[Row, ...]],
                charts: Sequence[Chart], generated: datetime) -> str:
    span = f"{result.start:%Y-%m-%d %H:%M} to {result.end:%Y-%m-%d %H:%M} UTC"
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>harkbot report, {_e(span)}</title><style>{_CSS}</style></head><body>",
           "<h1>Mention report</h1>",
           f'<p class="muted">{_e(span)}, by {_e(result.every)}; generated {generated:%Y-%m-%d %H:%M} UTC by harkbot.'
           f" Share of voice among {_e(', '.join(result.versus) or 'no brands')}.</p>"]
    out.append("<h2>Summary</h2><table><tr><th>brand</th><th>kind</th><th class=n>mentions</th>"
               "<th class=n>negative</th><th class=n>positive</th><th class=n>mean polarity</th>"
               "<th class=n>share of voice</th></tr>")
    for s in result.brands:
        t = s.total
        mean = "–" if t.mean is None else f"{t.mean:+.2f}"
        out.append(f"<tr><td>{_e(s.brand.name)}</td><td>{_e(s.brand.kind)}</td><td class=n>{t.count:,}</td>"
                   f"<td class=n>{_pct(t.share('negative'))}</td><td class=n>{_pct(t.share('positive'))}</td>"
                   f"<td class=n>{mean}</td><td class=n>{_pct(s.share_of_voice)}</td></tr>")
    out.append("</table>")
    for chart in charts:
        out.append(f"<h2>{_e(chart.title)}</h2>"
                   f'<img src="{chart.data_uri()}" alt="{_e(chart.title)}" width="1000">')
        if chart.filename == "volume.png":
            out.append(_alerts_table(marks))
    out.append("<h2>Top posts</h2>")
    for s in result.brands:
        rows = posts.get(s.brand.key, ())
        out.append(f"<h3>{_e(s.brand.name)}</h3>")
        if not rows:
            out.append('<p class="muted">No mentions in this period.</p>')
        for row in rows:
            body = f"{row.title}\n{row.text}" if row.title else row.text
            who = f"{row.platform}: {row.author or 'unknown'} ({row.author_reach:,} reach, {row.engagement:,} engagement)"
            link = _safe_url(row.url)
            when = row.created_at[:16].replace("T", " ")
            cite = f'<a href="{_e(link)}" rel="noopener noreferrer">{_e(when)} UTC</a>' if link else f"{_e(when)} UTC"
            out.append(f'<blockquote class="{_e(row.label)}">{_e(body)}</blockquote>'
                       f'<p class="muted">{_e(who)}, {_e(row.label)}, {cite}</p>')
    out.append("<h2>Languages</h2><table><tr><th>brand</th><th>languages (share of the mentions stored)</th></tr>")
    for s in result.brands:
        shares = ", ".join(f"{lang or 'unknown'} {share:.0%} ({mix.count:,})" for lang, mix, share in s.language_share())
        out.append(f"<tr><td>{_e(s.brand.name)}</td><td>{_e(shares or 'no mentions stored')}</td></tr>")
    out.append("</table>")
    out.append("<h2>Top terms and authors</h2><table><tr><th>brand</th><th>terms</th><th>hashtags</th>"
               "<th>authors</th></tr>")
    for s in result.brands:
        terms = ", ".join(f"{t} ({n:,})" for t, n in s.top_terms)
        tags = ", ".join(f"{t} ({n:,})" for t, n in s.top_hashtags)
        authors = ", ".join(f"{a.platform}:{a.author} ({a.mentions:,})" for a in s.top_authors[:5])
        note = f" (from the {s.sample:,} of {s.population:,} mentions still stored)" if s.sampled else ""
        out.append(f"<tr><td>{_e(s.brand.name)}{_e(note)}</td><td>{_e(terms)}</td><td>{_e(tags)}</td>"
                   f"<td>{_e(authors)}</td></tr>")
    out.append("</table></body></html>")
    return "\n".join(out)


def _alerts_table(marks: Sequence[AlertMark]) -> str:
    if not marks:
        return '<p class="muted">No alerts fired in this period.</p>'
    rows = ["<table><tr><th>fired (UTC)</th><th>severity</th><th>rule</th><th>brand</th><th>state</th>"
            "<th>what</th></tr>"]
    for m in marks:
        rows.append(f"<tr><td>{m.fired_at:%Y-%m-%d %H:%M}</td><td class=\"sev-{_e(m.severity)}\">{_e(m.severity)}</td>"
                    f"<td>{_e(m.rule)}</td><td>{_e(m.brand or '')}</td><td>{_e(m.state)}</td><td>{_e(m.title)}</td></tr>")
    rows.append("</table>")
    return "".join(rows)
