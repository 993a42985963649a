"""Block Kit messages for alerts: pure functions from an `Alert` to the dict Slack receives.

Everything that came from outside (post text, authors, titles, terms) is escaped, so a post
can neither ping a channel nor disguise a link, and every piece is cut to a budget that keeps
the message within Slack's limits: a busy alert must never be rejected as `invalid_blocks`.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol, Sequence

from bot.durations import format_duration
from bot.models import BUCKET, Alert, Finding, Post, utc
from bot.triage import CLOSE_REASONS, TriageEvent, state_of

MAX_HEADER = 150  # Slack: header plain_text
MAX_SECTION = 3000  # Slack: section text
MAX_FIELDS = 10  # Slack: fields per section
MAX_POSTS = 5
QUOTE_CHARS = 280
MAX_TERMS = 10
MAX_URL = 1000  # escaped; a longer URL is no link a person opens, and would blow _post's budget
SPARK_WIDTH = 48
ELLIPSIS = "…"
BARS = "▁▂▃▄▅▆▇█"
EVENT_TYPE = "harkbot_alert"

MARKERS = {"critical": "🔴", "warning": "🟠", "info": "🔵"}
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
DIGEST_LINES = 40
RESOLVED = "✅ RESOLVED"

# Bidi overrides and isolates reorder the rest of a line, so a post could disguise what
# follows it; C0/C1 controls (ANSI escapes included) have no place in a message or terminal.
_INVISIBLE = re.compile("[\u202a-\u202e\u2066-\u2069\x00-\x08\x0e-\x1f\x7f-\x9f]")
_SPACE = re.compile(r"\s+")
# Only the characters RFC 3986 allows, which excludes `<`, `>`, `|` and whitespace: those
# would end or relabel a `<url|label>` link.
_SAFE_URL = re.compile(r"https?://[\w.~:/?#\[\]@!$&'()*+,;=%-]+", re.ASCII | re.IGNORECASE)


_ANGLES = str.maketrans({"<": "\u2039", ">": "\u203a"})  # ‹ ›


def escape(text: str) -> str:
    """Text for Slack mrkdwn that shows as typed: `<!channel>` no longer pings anyone."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def sparkline(series: Sequence[int], width: int = SPARK_WIDTH) -> str:
    """Counts as ▁▂▃▄▅▆▇█ bars, at most `width` of them (adjacent buckets are summed)."""
    bars, _ = _compress(series, width)
    peak = max(bars, default=0)
    if peak <= 0:
        return BARS[0] * len(bars)
    # Any mention at all gets at least the second bar, so a quiet bucket differs from none.
    return "".join(BARS[0] if v <= 0 else BARS[max(1, round(v * 7 / peak))] for v in bars)


class Privacy(Protocol):
    """What a shared channel may see of a post (see bot/privacy.py): applied to every post,
    term and author before the message is drawn."""

    def post(self, post: Post) -> Post: ...

    def text(self, text: str) -> str: ...


def payload(alert: Alert, *, key: str | None = None, privacy: Privacy | None = None, actions: bool = False,
            triage: Sequence[TriageEvent] = ()) -> dict[str, Any]:
    """The chat.postMessage arguments for an alert: fallback text, blocks and metadata.

    `actions`: the triage buttons (a notifier that hears clicks: Slack in Socket Mode);
    `triage`: the alert's triage events, shown as one line (who acked it, the verdict)."""
    finding = _private(alert.finding, privacy)
    shown = finding.posts[:MAX_POSTS]
    reason = _text(finding.reason, MAX_SECTION)
    blocks = [
        _header(replace(alert, finding=finding)),
        _section(reason) if reason else None,  # Slack refuses an empty text
        _facts(finding.facts),
        _terms(finding.terms, finding.tone),
        {"type": "divider"} if shown else None,
        *(_section(_post(p)) for p in shown),
        _more(len(finding.posts) - len(shown)),
        _trend(finding.series),
        _context(alert),
        _triage_context([alert], triage),
        _actions([alert]) if actions else None,
    ]
    return {
        "text": _text(f"{_label(alert)}: {finding.title}", MAX_SECTION),
        "blocks": [b for b in blocks if b is not None],
        "metadata": _metadata(alert, key),
    }


def group_payload(alerts: Sequence[Alert], *, key: str | None = None, privacy: Privacy | None = None,
                  actions: bool = False, triage: Sequence[TriageEvent] = ()) -> dict[str, Any]:
    """One message for alerts of one brand that fired together: each alert's finding and
    evidence, then the most-reached posts among them all, within Slack's 50 blocks. Its
    buttons (`actions`) act on every alert in it."""
    if len(alerts) == 1:
        return payload(alerts[0], key=key, privacy=privacy, actions=actions, triage=triage)
    findings = [_private(a.finding, privacy) for a in alerts]
    firing = [a for a in alerts if a.state != "resolved"]
    worst = min(firing or alerts, key=lambda a: SEVERITY_ORDER.get(a.severity, 9))
    brand = _brand_label(alerts[0])
    if firing:
        head = f"{MARKERS.get(worst.severity, '⚪')} {worst.severity.upper()} · {len(alerts)} alerts: {brand}"
    else:
        head = f"{RESOLVED} · {len(alerts)} alerts: {brand}"
    body: list[dict[str, Any] | None] = [
        _plain_header(head)]
    for alert, finding in zip(alerts, findings):
        mark = "✅ " if alert.state == "resolved" else f"{MARKERS.get(alert.severity, '⚪')} "
        title = _text(finding.title, 300)
        reason = _text(finding.reason, MAX_SECTION - 400)
        body += [_section(f"{mark}*{title}*" + (f"\n{reason}" if reason else "")),
                 _facts(finding.facts), _terms(finding.terms, finding.tone)]
    posts = _top_posts(findings)
    body += [{"type": "divider"} if posts else None, *(_section(_post(p)) for p in posts)]
    body.append(_trend(max((f.series for f in findings), key=lambda s: sum(s), default=())))
    rules = ", ".join(f"*{_text(a.rule, 100)}*" for a in alerts)
    context = [f"Rules {rules}"]
    if alerts[0].search:
        context.append(f"List these mentions: `{_text(alerts[0].search, 1000)}`")
    body.append({"type": "context", "elements": [_mrkdwn(c) for c in context]})
    body += [_triage_context(alerts, triage), _actions(alerts) if actions else None]
    titles = "; ".join(f.title for f in findings)
    return {
        "text": _text(f"{_label(worst)}: {titles}", MAX_SECTION),
        "blocks": [b for b in body if b is not None],
        "metadata": _metadata(alerts[0], key, [a.id for a in alerts]),
    }


def update_payload(alert: Alert, reason: str, *, key: str | None = None, privacy: Privacy | None = None,
                   thread: bool = True, brief: bool = False) -> dict[str, Any]:
    """It is getting worse: a reply in the alert's thread (a message of its own without threads;
    `brief`: one line, for a terminal that has just printed the alert)."""
    finding = _private(alert.finding, privacy)
    why = {"worse": "it is getting worse"}.get(reason, reason.replace("_", " ")) or "update"
    lead = f"📈 *Update: {_text(why, 200)}.* {_text(finding.title, 300)}"
    if brief:
        return {"text": _text(f"UPDATE ({why}): {finding.title}", MAX_SECTION), "blocks": [_section(lead)],
                "metadata": _metadata(alert, key)}
    detail = _text(finding.reason, MAX_SECTION - 600)
    shown = finding.posts[:3]
    body: list[dict[str, Any] | None] = [
        None if thread else _plain_header(f"📈 UPDATE · {finding.title}"),
        _section(lead + (f"\n{detail}" if detail else "")),
        _facts(finding.facts),
        _terms(finding.terms, finding.tone),
        *(_section(_post(p)) for p in shown),
        _trend(finding.series),
        _context(alert),
    ]
    return {"text": _text(f"UPDATE ({why}): {finding.title}", MAX_SECTION),
            "blocks": [b for b in body if b is not None], "metadata": _metadata(alert, key)}


def resolved_payload(alert: Alert, resolved_at: datetime, *, key: str | None = None,
                     privacy: Privacy | None = None, thread: bool = True, brief: bool = False) -> dict[str, Any]:
    """The note that an alert resolved: in its thread, or a message of its own without threads."""
    finding = _private(alert.finding, privacy)
    lasted = _lasted(max(resolved_at - alert.fired_at, BUCKET))
    line = (f"✅ *Resolved* at {utc(resolved_at).strftime('%d %b %H:%M UTC')}, after {lasted}: "
            f"{_text(finding.title, 300)}")
    full = not (thread or brief)
    body: list[dict[str, Any] | None] = [
        _plain_header(f"{RESOLVED} · {finding.title}") if full else None,
        _section(line),
        _context(alert) if full else None,
    ]
    return {"text": _text(f"RESOLVED: {finding.title}", MAX_SECTION),
            "blocks": [b for b in body if b is not None], "metadata": _metadata(alert, key)}


def digest_payload(alerts: Sequence[Alert], *, key: str | None = None, privacy: Privacy | None = None,
                   now: datetime | None = None) -> dict[str, Any]:
    """Low-severity alerts collected for a channel, one line each, as one message."""
    shown = alerts[:DIGEST_LINES]
    since = min(a.fired_at for a in alerts)
    head = f"🗞️ Digest · {len(alerts)} alert{'s' if len(alerts) != 1 else ''} since {utc(since).strftime('%d %b %H:%M UTC')}"
    body: list[dict[str, Any] | None] = [
        _plain_header(head)]
    for alert in shown:
        finding = _private(alert.finding, privacy)
        mark = "✅" if alert.state == "resolved" else MARKERS.get(alert.severity, "⚪")
        top = finding.posts[0] if finding.posts else None
        link = _link(top.url, "top post") if top else ""
        line = (f"{mark} *{_text(finding.title, 300)}* · {utc(alert.fired_at).strftime('%d %b %H:%M')}"
                f" · rule {_text(alert.rule, 100)}" + (f" · {link}" if link else ""))
        body.append(_section(line))
    body.append(_more_alerts(len(alerts) - len(shown)))
    return {"text": _text(head, MAX_SECTION), "blocks": [b for b in body if b is not None],
            "metadata": _metadata(alerts[0], key, [a.id for a in alerts])}


def _lasted(span: timedelta) -> str:
    """'45m', '10h 10m', '2d 3h': how long an alert lasted, as a person says it."""
    minutes = int(span.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {mins}m" if mins else f"{hours}h"
    return f"{mins}m"


def _private(finding: Finding, privacy: Privacy | None) -> Finding:
    if privacy is None:
        return finding
    widen = getattr(privacy, "for_posts", None)  # public accounts among the posts stay named
    if widen is not None:
        privacy = widen(finding.posts)
    return replace(
        finding,
        title=privacy.text(finding.title),
        reason=privacy.text(finding.reason),
        facts=tuple((label, privacy.text(value)) for label, value in finding.facts),
        posts=tuple(privacy.post(p) for p in finding.posts),
        terms=tuple(privacy.text(t) for t in finding.terms),
        tone=tuple((label, tuple(privacy.text(t) for t in terms)) for label, terms in finding.tone),
    )


def _top_posts(findings: Sequence[Finding]) -> list[Post]:
    seen: dict[tuple[str, str], Post] = {}
    for finding in findings:
        for post in finding.posts:
            seen.setdefault((post.url, post.text), post)
    return sorted(seen.values(), key=lambda p: -p.author_reach)[:MAX_POSTS]


def _brand_label(alert: Alert) -> str:
    title = alert.finding.title
    # Titles read "What: Brand, detail"; the brand is the part after the colon.
    if ": " in title:
        return title.split(": ", 1)[1].split(",", 1)[0]
    return alert.brand or "harkbot"


def _plain_header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": _plain(text, MAX_HEADER), "emoji": True}}


def _plain(text: str, limit: int) -> str:
    """Text for a plain_text object: Slack shows it as is, entities included (an escaped `&`
    would read `&amp;`), so nothing is escaped; angle brackets become look-alikes so that no
    client, whatever it parses, can see a mention or a link in outside text."""
    text = _SPACE.sub(" ", _INVISIBLE.sub("", text)).strip().translate(_ANGLES)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def _more_alerts(hidden: int) -> dict[str, Any] | None:
    if hidden <= 0:
        return None
    return {"type": "context", "elements": [_mrkdwn(f"+{hidden} more not shown: `harkbot alerts list`")]}


def _label(alert: Alert) -> str:
    return "RESOLVED" if alert.state == "resolved" else alert.severity.upper()


def _header(alert: Alert) -> dict[str, Any]:
    if alert.state == "resolved":
        prefix = f"{RESOLVED} · "
    else:
        prefix = f"{MARKERS.get(alert.severity, '⚪')} {alert.severity.upper()} · "
    return _plain_header(prefix + alert.finding.title)


def _facts(facts: Sequence[tuple[str, str]]) -> dict[str, Any] | None:
    if not facts:
        return None
    fields = [
        _mrkdwn(f"*{_text(label, 100)}*\n{_text(value, 500)}")
        for label, value in facts[:MAX_FIELDS]
    ]
    return {"type": "section", "fields": fields}


def _terms(terms: Sequence[str], tone: Sequence[tuple[str, Sequence[str]]] = ()) -> dict[str, Any] | None:
    lines = []
    if terms:
        lines.append("*Driving terms:* " + ", ".join(_text(t, 100) for t in terms[:MAX_TERMS]))
    if tone:
        heard = " · ".join(f"{_text(label, 20)}: " + ", ".join(f"'{_text(t, 60)}'" for t in words[:MAX_TERMS])
                           for label, words in tone)
        lines.append(f"*Sentiment driven by:* {heard}")
    return _section("\n".join(lines)) if lines else None


def _post(post: Post) -> str:
    """One quoted post. Budget: 300 + 100 + 50 + 1000 (link) + 280 (quote) < MAX_SECTION.

    The quote comes last so that mrkdwn inside the post can only restyle the post itself.
    """
    meta = [
        f"*{_text(post.author or '(deleted)', 300)}*",
        f"{_count(post.author_reach)} reach",
        _text(post.platform, 100),
        utc(post.created_at).strftime("%d %b %H:%M UTC"),
        _link(post.url, "open"),
    ]
    quote = _text(post.text, QUOTE_CHARS)
    return " · ".join(m for m in meta if m) + (f"\n> {quote}" if quote else "")


def _more(hidden: int) -> dict[str, Any] | None:
    if hidden <= 0:
        return None
    noun = "post" if hidden == 1 else "posts"
    return {"type": "context", "elements": [_mrkdwn(f"+{hidden} more {noun} not shown")]}


def _trend(series: Sequence[int]) -> dict[str, Any] | None:
    if not series:
        return None
    bars, step = _compress(series, SPARK_WIDTH)
    grain = BUCKET * step
    span = format_duration(grain * len(bars))
    label = f"*Mentions, last {span}* (one bar per {format_duration(grain)}, peak {max(bars)})"
    return _section(f"{label}\n`{sparkline(series, SPARK_WIDTH)}`")


def _context(alert: Alert) -> dict[str, Any]:
    elements = [
        f"Rule *{_text(alert.rule, 200)}* · {_text(alert.kind, 100)}",
        f"Fingerprint `{escape(alert.fingerprint[:12])}`",
    ]
    if alert.search:
        elements.append(f"List these mentions: `{_text(alert.search, 1000)}`")
    return {"type": "context", "elements": [_mrkdwn(e) for e in elements]}


# -- triage: the buttons, and the line saying what people said -----------------------------

ACTIONS_BLOCK = "harkbot_triage"  # block ids are stable: a redraw keeps them, and a click names them
TRIAGE_BLOCK = "harkbot_triage_state"
ACK, USEFUL, NOISE, CLOSE = "harkbot_ack", "harkbot_useful", "harkbot_noise", "harkbot_close"
CLOSE_LABELS = {
    "resolved": "Resolved",
    "false-positive:rule": "False positive: the rule",
    "false-positive:wrong-brand": "False positive: wrong brand",
    "false-positive:spam": "False positive: spam",
    "false-positive:wrong-sentiment": "False positive: wrong sentiment",
    "duplicate": "Duplicate",
}
MAX_OPTION_VALUE = 150  # Slack: an option's value; a button's is 2000
# A Slack user id as Slack writes it; the only `<@...>` we ever write is one of these.
SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,20}")
_SLACK_ACTOR = re.compile(r"\(slack:([UW][A-Z0-9]{2,20})\)\Z")


def ids_value(ids: Sequence[int]) -> str:
    """A button's value: the alert ids, "7" or "7,8,9" (bot/notifiers/slack_interactive.py reads it)."""
    return ",".join(str(i) for i in ids)


def slack_actor(user_id: str, name: str = "") -> str:
    """How a Slack user is recorded as a triage actor: "ann (slack:U0123ABC)"; the id last, so
    that whatever the name holds, the id is read back from the end."""
    shown = _SPACE.sub(" ", _INVISIBLE.sub("", name)).strip()[:80]
    return f"{shown} (slack:{user_id})" if shown else f"slack:{user_id}"


def _who(event: TriageEvent) -> str:
    """The person, for mrkdwn: a Slack user as our own mention of their id (Slack shows their
    current name), anyone else as escaped text."""
    if event.source in ("slack", "reaction"):  # actors we wrote ourselves (slack_actor)
        bare = event.actor.removeprefix("slack:")
        found = _SLACK_ACTOR.search(event.actor)
        user = found.group(1) if found else bare
        if SLACK_USER.fullmatch(user):
            return f"<@{user}>"
    return _text(event.actor, 100) or "someone"


def _actions(alerts: Sequence[Alert]) -> dict[str, Any] | None:
    """Acknowledge, Useful, Noise and a "Close as…" menu, acting on every alert of the message."""
    ids = [a.id for a in alerts if a.id is not None]
    if not ids or len(ids) != len(alerts):
        return None  # an unsaved alert: a click could not name it
    value = ids_value(ids)

    def button(action_id: str, label: str, style: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "button", "action_id": action_id,
                               "text": {"type": "plain_text", "text": label, "emoji": True}, "value": value}
        if style:
            out["style"] = style
        return out

    options = [{"text": {"type": "plain_text", "text": CLOSE_LABELS[r], "emoji": True}, "value": f"{value}|{r}"}
               for r in CLOSE_REASONS]
    if any(len(o["value"]) > MAX_OPTION_VALUE for o in options):
        options = []  # cannot happen for up to 5 alerts (5 ids of 19 digits); never a refused message
    elements = [button(ACK, "👀 Acknowledge", "primary"), button(USEFUL, "👍 Useful"), button(NOISE, "👎 Noise")]
    if options:
        elements.append({"type": "static_select", "action_id": CLOSE,
                         "placeholder": {"type": "plain_text", "text": "Close as…", "emoji": True},
                         "options": options})
    return {"type": "actions", "block_id": ACTIONS_BLOCK, "elements": elements}


def _triage_context(alerts: Sequence[Alert], events: Sequence[TriageEvent]) -> dict[str, Any] | None:
    """One line of what people said: "👀 Acknowledged by <@U1> · verdict: useful". A group whose
    alerts differ gets a line per alert."""
    lines = {a.id: _triage_line([e for e in events if e.alert_id == a.id]) for a in alerts if a.id is not None}
    said = {i: line for i, line in lines.items() if line}
    if not said:
        return None
    if len(set(lines.values())) == 1:
        texts = [next(iter(said.values()))]
    else:
        texts = [f"#{i}: {line}" for i, line in said.items()]
    return {"type": "context", "block_id": TRIAGE_BLOCK, "elements": [_mrkdwn(t) for t in texts[:10]]}


def _triage_line(events: Sequence[TriageEvent]) -> str:
    if not events:
        return ""
    ordered = sorted(events, key=lambda e: e.id)
    state = state_of(ordered[0].alert_id, ordered)
    acker = next((e for e in ordered if e.kind == "ack"), None)
    verdict = next((e for e in reversed(ordered) if e.kind == "verdict"), None)
    closer = next((e for e in reversed(ordered) if e.kind == "close"), None)
    first = _who(acker) if acker else None
    parts = [f"👀 Acknowledged by {first}"] if first else []

    def by(event: TriageEvent) -> str:
        who = _who(event)
        return "" if who == first else f" by {who}"

    if verdict is not None and state.verdict:
        reason = f" ({_text(verdict.reason, 40)})" if verdict.reason else ""
        parts.append(f"verdict: {_text(state.verdict, 20)}{reason}{by(verdict)}")
    if closer is not None and state.closed:
        parts.append(f"closed: {_text(CLOSE_LABELS.get(state.closed, state.closed), 60)}{by(closer)}")
    return " · ".join(parts)


def _metadata(alert: Alert, key: str | None = None, ids: Sequence[int | None] = ()) -> dict[str, Any]:
    """Message metadata: `key` is how the sender finds this message again after a crash."""
    fields: dict[str, Any] = {"key": key, "fingerprint": alert.fingerprint, "alert_id": alert.id,
                              "state": alert.state}
    if len(ids) > 1:
        fields["alert_ids"] = [i for i in ids if i is not None]
    # An unsaved alert has no id yet; Slack metadata has no use for a null.
    return {
        "event_type": EVENT_TYPE,
        "event_payload": {k: v for k, v in fields.items() if v is not None},
    }


def _compress(series: Sequence[int], width: int) -> tuple[list[int], int]:
    """Sums of `step` adjacent buckets, at most `width` of them, and the step.

    Groups are aligned on the newest bucket and the oldest partial group is dropped, so every
    bar covers the same length of time and a partial group cannot pass for a quiet spell.
    """
    step = max(1, math.ceil(len(series) / width))
    start = len(series) % step
    return [sum(series[i : i + step]) for i in range(start, len(series), step)], step


def _link(url: str, label: str) -> str:
    """`<url|label>` for a plain http(s) URL; "" for anything that could break out of it."""
    target = escape(url)
    if len(target) > MAX_URL or not _SAFE_URL.fullmatch(url):
        return ""
    return f"<{target}|{label}>"


def _text(raw: str, limit: int) -> str:
    """Outside text made safe: visible, on one line, escaped, and at most `limit` chars.

    One line because a newline in a post would start a quote, list or code block of its own.
    The limit counts escaped chars (that is what Slack counts), and the cut never splits
    an `&amp;`-style entity.
    """
    text = escape(_SPACE.sub(" ", _INVISIBLE.sub("", raw)).strip())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut.rstrip() + ELLIPSIS


def _count(n: int) -> str:
    """12345 -> '12.3k': reach is read at a glance."""
    for size, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if n >= size:
            return f"{n / size:.1f}".removesuffix(".0") + suffix
    return str(n)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


def _mrkdwn(text: str) -> dict[str, Any]:
    # verbatim: Slack must not turn bare URLs, #channels or @mentions in post text into links.
    return {"type": "mrkdwn", "text": text, "verbatim": True}
