"""Frozen types passed between stages. No I/O here, and nothing platform-specific.

Times are timezone-aware UTC datetimes everywhere; `utc()` enforces it at the edges.
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Protocol, Sequence

if TYPE_CHECKING:
    from bot.query import Query, Target, Tokens

UTC = timezone.utc
BUCKET = timedelta(minutes=5)  # the rollup grain: every count series is in 5-minute buckets
LABELS = ("negative", "neutral", "positive")
SEVERITIES = ("info", "warning", "critical")
BRAND_KINDS = ("brand", "competitor", "topic")


def utc(dt: datetime) -> datetime:
    """The same instant as an aware UTC datetime; a naive datetime is taken to be UTC."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def iso(dt: datetime) -> str:
    """Fixed-width ISO-8601 UTC text ('2026-11-21T10:05:00Z'), so text order is time order."""
    return utc(dt).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    return utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


def floor_bucket(dt: datetime) -> datetime:
    dt = utc(dt)
    return dt.replace(minute=dt.minute - dt.minute % 5, second=0, microsecond=0)


# Every platform a listener stores mentions from (a Mention's `platform`; rules' `platforms:`).
PLATFORMS = ("x", "reddit", "youtube", "mastodon", "bluesky", "rss", "hackernews")


@dataclass(frozen=True)
class Mention:
    """One post, comment or video that a listener found, in platform-neutral form."""

    platform: str  # one of PLATFORMS
    id: str  # the platform's own id; (platform, id) is unique
    text: str
    author: str  # handle or username; "" when the platform no longer knows it (deleted)
    url: str
    created_at: datetime  # aware UTC
    author_reach: int = 0  # followers, subscribers: how many people the author reaches
    engagement: int = 0  # likes + reposts + replies, or score + comments
    language: str | None = None  # the platform's own tag, as it gave it ('en-US', 'und')
    title: str = ""  # Reddit submission or YouTube video title
    kind: str = "post"  # post, comment, video
    metrics: dict[str, int] = field(default_factory=dict, compare=False, hash=False)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    # Set at ingest (bot.lang.resolve): the ISO 639-1 code of the post's language, "und" when
    # it cannot be told, None when never detected (stored before detection); and how sure the
    # detector is (None: the platform's tag was kept without the detector agreeing).
    lang: str | None = None
    lang_confidence: float | None = None
    # The URLs the post links to, where the platform says (an X post's expanded links, a Reddit
    # link post's target): what `site:` reads besides `url` and the links written in the text.
    # Read at ingest only: the store keeps `url` and the text, not this.
    links: tuple[str, ...] = field(default=(), compare=False, hash=False)

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.id}"

    @property
    def full_text(self) -> str:
        """What brand queries and scorers read: the title (if any) and the body."""
        return f"{self.title}\n{self.text}" if self.title else self.text


@dataclass(frozen=True)
class Score:
    label: str  # one of LABELS
    polarity: float  # in [-1, 1]
    scorer: str
    terms: tuple[str, ...] = ()  # the few terms that moved the score, strongest first


@dataclass(frozen=True)
class ScoredMention:
    mention: Mention
    brands: tuple[str, ...]  # brand keys from config.yaml that the mention matched
    score: Score
    safety: Any = None  # a bot.selfharm.SafetyFlag when the post may come from a person at risk


@dataclass(frozen=True)
class Brand:
    key: str  # the config key, e.g. "mindful"; what rules and --brand name
    name: str  # display name, e.g. "Mindful Health"
    kind: str  # one of BRAND_KINDS
    query: Query
    exclude: Query | None = None

    def matches(self, text: str) -> bool:
        from bot.query import tokenize

        return self.matches_tokens(tokenize(text))

    def matches_tokens(self, tokens: Tokens) -> bool:
        """Match an already tokenized text: one tokenize serves every brand. A bare text has no
        author or links: `author:` and `site:` terms match nothing (see matches_target)."""
        if not self.query.match(tokens):
            return False
        return not (self.exclude and self.exclude.match(tokens))

    def matches_mention(self, mention: Mention) -> bool:
        from bot.query import Target

        return self.matches_target(Target.of(mention))

    def matches_target(self, target: Target) -> bool:
        """Match a post's Target (bot.query): its words, author and hosts, so `author:` and
        `site:` in the query or the exclude (a block: `harkbot brands block`) apply. A brand
        whose queries read only words takes the tokens' path."""
        if self.plain:
            return self.matches_tokens(target.tokens)
        if not self.query.match_target(target):
            return False
        return not (self.exclude and self.exclude.match_target(target))

    @functools.cached_property
    def plain(self) -> bool:
        """Whether its query and exclude read only words (no author:, no site:)."""
        from bot.query import plain_text

        return plain_text(self.query) and (self.exclude is None or plain_text(self.exclude))


@dataclass(frozen=True)
class Batch:
    """What one page walk of a listener yields: mentions, and the cursor to store with them.

    `cursor` is set only on the batch that completes a walk; earlier pages are stored
    without moving the cursor, so a crash mid-walk re-fetches (and dedupes) rather than
    skipping what was not yet seen.
    """

    mentions: tuple[Mention, ...]
    cursor: str | None = None


@dataclass(frozen=True)
class WindowStats:
    start: datetime
    end: datetime
    count: int = 0
    negative: int = 0
    positive: int = 0
    polarity_sum: float = 0.0
    authors: int = 0
    platforms: dict[str, int] = field(default_factory=dict, compare=False, hash=False)

    @property
    def negative_share(self) -> float:
        return self.negative / self.count if self.count else 0.0


class History(Protocol):
    """What rule kinds may read: the store implements it, and so can a test double."""

    def series(
        self,
        brand: str,
        start: datetime,
        end: datetime,
        *,
        sentiment: str | None = None,
        platforms: Sequence[str] | None = None,
    ) -> list[int]:
        """Mention counts per 5-minute bucket in [start, end), zeros included."""
        ...

    def stats(
        self, brand: str, start: datetime, end: datetime, *, platforms: Sequence[str] | None = None
    ) -> WindowStats: ...

    def mentions(
        self,
        brand: str,
        start: datetime,
        end: datetime,
        *,
        sentiment: str | None = None,
        platforms: Sequence[str] | None = None,
        limit: int | None = None,
        order: str = "reach",
    ) -> list[ScoredMention]: ...

    def first_seen(self, brand: str) -> datetime | None:
        """The start of the brand's first bucket: history before it is absence, not zeros."""
        ...


@dataclass(frozen=True)
class Post:
    """A mention as an alert quotes it."""

    platform: str
    author: str
    text: str
    url: str
    created_at: datetime
    author_reach: int
    engagement: int
    label: str
    key: str = ""  # the mention's platform:id

    @classmethod
    def of(cls, sm: ScoredMention) -> Post:
        m = sm.mention
        return cls(
            platform=m.platform,
            author=m.author,
            text=m.full_text,
            url=m.url,
            created_at=m.created_at,
            author_reach=m.author_reach,
            engagement=m.engagement,
            label=sm.score.label,
            key=m.key,
        )


@dataclass(frozen=True)
class Finding:
    """A rule kind's answer for one group (a brand): the condition holds, and why."""

    group: str  # brand key
    title: str  # "Negative spike: Mindful Health, 6.2x usual"
    reason: str  # one sentence: what was observed against what threshold
    observed: float
    usual: float
    window_start: datetime
    window_end: datetime
    facts: tuple[tuple[str, str], ...] = ()  # ordered (label, value) pairs for the evidence
    posts: tuple[Post, ...] = ()
    terms: tuple[str, ...] = ()
    series: tuple[int, ...] = ()  # recent 5-minute counts, oldest first, for a sparkline
    # The terms that moved the window's mentions' sentiment scores (Score.terms), most
    # frequent first: (("negative", ("leaked", "refund")), ("positive", ("love",)))
    tone: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class Alert:
    """A finding with its rule's routing: what a notifier turns into a message."""

    id: int | None
    fingerprint: str
    rule: str
    kind: str
    severity: str
    brand: str
    channel: str | None
    fired_at: datetime
    finding: Finding
    state: str = "firing"  # firing, resolved
    search: str = ""  # a harkbot command that lists this alert's mentions

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=_json_default, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Alert:
        data = json.loads(text)
        f = data["finding"]
        finding = Finding(
            **{
                **f,
                "window_start": parse_iso(f["window_start"]),
                "window_end": parse_iso(f["window_end"]),
                "facts": tuple(tuple(x) for x in f["facts"]),
                "posts": tuple(
                    Post(**{**p, "created_at": parse_iso(p["created_at"])}) for p in f["posts"]
                ),
                "terms": tuple(f["terms"]),
                "series": tuple(f["series"]),
                "tone": tuple((label, tuple(terms)) for label, terms in f.get("tone", ())),
            }
        )
        return cls(**{**data, "fired_at": parse_iso(data["fired_at"]), "finding": finding})


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
