"""History and alert states in memory, for backtests and rule tests: the same kind code and
the same decide(), on a simulated clock, without writing to the database.

`MemHistory` loads what the rules will read once, in bulk, through Store methods:

* the 5-minute buckets of every brand in the period, as arrays with prefix sums, so a
  window's count is two look-ups and a series is a slice;
* for `new_term` rules, the term index of their brands: one read of each brand's texts (only
  those holding a '#' when its indexes count hashtags only, the bucket sizes then counted from
  the links), each distinct text tokenised once (reposts repeat texts), and where each term
  starts anew over a lookback, so most checks stop before counting a window's terms;
* for each mention filter the rules use (a mention query, an influencer's reach or watch
  list), the times of the matching mentions per brand and platform, so a count is two
  bisections. The filters without a query, and the texts the FTS index may read differently
  (anything beyond ASCII, and underscores, which harkbot keeps inside words), come from one
  read the database filters (a reach at least the smallest asked, a listed author, anything
  beyond ASCII), each row then checked here. A query is asked of the FTS5 index, for the
  brands of the rules using it (any other brand when first asked about), with a translation
  that matches MORE than the query does (phrases become ANDs of their words, NOT parts are
  dropped), and every candidate is then checked with harkbot's own matcher (once per distinct
  text), the odd texts too, so the counts equal a full scan's;
* for `listener_silent`, the times each listener stored mentions (recorded); listener errors
  are not (only the current failure count is stored), so a backtest cannot replay them.

What only an alert needs (top posts, driving terms, distinct authors) is read from the store
when asked: a few hundred reads of a few hundred mentions each, built from plain rows (not a
Row and two JSON parses per mention), a filter's posts fetched by the keys pre-matched above.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from itertools import accumulate
from typing import Any, Sequence

from bot.kinds.base import MentionSpec
from bot.models import (BUCKET, LABELS, PLATFORMS, Alert, Mention, Score, ScoredMention, WindowStats, floor_bucket, iso,
                        parse_iso, utc)
from bot.query import (And, Handle, Hashtag, Not, Or, Phrase, Prefix, Query, Target, Tokens, Word, author_key,
                       plain_text, tokenize)
from bot.store import Report, RuleState, Store
from bot.vocab import STEP, TermIndex, epoch, term_tuple

try:  # Counter.update's C helper, without its per-call checks (a million calls)
    from collections import _count_elements as _count  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    def _count(counter: dict, items: Any) -> None:
        for item in items:
            counter[item] = counter.get(item, 0) + 1

_ALNUM = re.compile(r"[^\W_]")


def _tokens(text: str, title: str) -> Tokens:
    return tokenize(f"{title}\n{text}" if title else text)


def fts_exact(node: Query) -> bool:
    """Whether `to_fts(node)` matches exactly what `node` does on ASCII texts without underscores
    (words and prefixes under AND and OR: the FTS tokenizer splits such texts as harkbot does)."""
    if isinstance(node, (Word, Prefix)):
        return bool(_ALNUM.search(getattr(node, "word", None) or getattr(node, "stem", "")))
    if isinstance(node, (And, Or)):
        return all(fts_exact(c) for c in node.children)
    return False


def to_fts(node: Query) -> str | None:
    """An FTS5 query matching every text `node` matches (and maybe more), or None if there is none."""
    if isinstance(node, (Word, Hashtag, Handle, Prefix)):
        word = {Word: "word", Hashtag: "tag", Handle: "handle", Prefix: "stem"}[type(node)]
        text = getattr(node, word)
        if not _ALNUM.search(text):
            return None
        quoted = '"' + text.replace('"', '""') + '"'
        return quoted + "*" if isinstance(node, Prefix) else quoted
    if isinstance(node, Phrase):
        parts = [to_fts(Word(w)) for w in node.words]
        parts = [p for p in parts if p is not None]
        return "(" + " AND ".join(parts) + ")" if parts else None
    if isinstance(node, And):
        parts = [to_fts(c) for c in node.children if not isinstance(c, Not)]
        parts = [p for p in parts if p is not None]
        return "(" + " AND ".join(parts) + ")" if parts else None
    if isinstance(node, Or):
        parts = [to_fts(c) for c in node.children]
        return None if any(p is None for p in parts) else "(" + " OR ".join(parts) + ")"
    return None


_MEMO = 200_000  # distinct texts remembered per cache: reposts repeat texts, most others are unique


def _count_texts(rows: Any, t0: int, buckets: dict, cache: dict, hashtags_only: bool) -> None:
    """Add each (epoch, platform, text, title) row to its bucket's [mentions, term counts]."""
    get = cache.get
    for at, _platform, text, title in rows:
        full = f"{title}\n{text}" if title else text
        terms = get(full)
        if terms is None:
            terms = term_tuple(full, hashtags_only)
            if len(cache) < _MEMO:
                cache[full] = terms
        bucket = at - (at - t0) % STEP
        entry = buckets.get(bucket)
        if entry is None:
            entry = buckets[bucket] = [0, Counter()]
        entry[0] += 1
        _count(entry[1], terms)


def _count_texts_by_platform(rows: Any, t0: int, targets: list, caches: tuple[dict, dict]) -> None:
    """`_count_texts` for several indexes of one brand at once (platform filters, hashtags only or not)."""
    for at, platform, text, title in rows:
        full = f"{title}\n{text}" if title else text
        bucket = at - (at - t0) % STEP
        for platforms, tags, buckets in targets:
            if platforms and platform not in platforms:
                continue
            cache = caches[tags]
            terms = cache.get(full)
            if terms is None:
                terms = term_tuple(full, tags)
                if len(cache) < _MEMO:
                    cache[full] = terms
            entry = buckets.get(bucket)
            if entry is None:
                entry = buckets[bucket] = [0, Counter()]
            entry[0] += 1
            _count(entry[1], terms)


class MemHistory:
    """A History over [start, end) of a store, loaded once; see the module docstring."""

    def __init__(self, store: Store, start: datetime, end: datetime):
        self.store = store
        self.start, self.end = floor_bucket(start), floor_bucket(end) + BUCKET
        self.t0 = epoch(self.start)
        self.n = int((self.end - self.start) / BUCKET)
        # (brand, platform or None) -> {"count"|label: per-bucket list}, and their prefix sums
        self.columns: dict[tuple[str, str | None], dict[str, list[int]]] = {}
        self.prefix: dict[tuple[str, str | None], dict[str, list[int]]] = {}
        self._first_seen: dict[str, datetime | None] = {}
        self.matched: dict[MentionSpec, dict[tuple[str, str | None], list[int]]] = {}
        self.matched_keys: dict[MentionSpec, dict[tuple[str, str | None], list[str]]] = {}
        self.terms: dict[tuple, TermIndex] = {}
        self.ingests: dict[str, list[int]] | None = None
        self._odd: list[tuple] | None = None
        self._token_memo: dict[tuple[str, str], Tokens] = {}  # candidates' tokens, shared by queries
        self._partial: dict[MentionSpec, set[str]] = {}  # brands read of a filter read for some brands only
        self._activity: tuple[int | None, list[dict]] | None = None
        self._cited: dict[str | None, tuple[str, ...]] = {}
        self._indexes: dict[datetime, int] = {}
        self._novel: dict[tuple, list[int]] = {}
        self._load_buckets()

    # -- loading ---------------------------------------------------------------------------

    def _load_buckets(self) -> None:
        for brand, at, platform, count, negative, positive in self.store.bucket_rows(self.start, self.end):
            i = (at - self.t0) // STEP
            if not 0 <= i < self.n:
                continue
            for key in ((brand, platform), (brand, None)):
                cols = self.columns.get(key)
                if cols is None:
                    cols = self.columns[key] = {name: [0] * self.n for name in ("count", *LABELS)}
                cols["count"][i] += count
                cols["negative"][i] += negative
                cols["positive"][i] += positive
                cols["neutral"][i] += count - negative - positive
        for key, cols in self.columns.items():
            self.prefix[key] = {name: [0, *accumulate(values)] for name, values in cols.items()}

    def prepare(self, rules: Sequence[Any]) -> None:
        """Pre-match what the rules will count: mention filters, new-term indexes, listener activity.

        Each term index reads its brand's texts once (only those holding a '#' when it counts
        hashtags only); the filters without a query (reach, watch lists) and the texts the FTS
        index may read differently are found by one filtered read; each query then asks FTS5
        for its candidates and checks them.
        """
        from bot.kinds import KINDS

        specs: list[MentionSpec] = []
        spec_brands: dict[MentionSpec, set[str]] = {}  # a query's matches are read for the brands using it
        terms: list[tuple[str, tuple[str, ...] | None, bool]] = []
        for rule in rules:
            for spec in getattr(KINDS[rule.kind], "specs", lambda _o: [])(rule.options):
                spec_brands.setdefault(spec, set()).update(rule.brands)
                if spec not in self.matched and spec not in specs:
                    specs.append(spec)
            if rule.kind == "new_term":
                tags = rule.options.hashtags_only
                for brand in rule.brands:
                    if "platform" in rule.group_by:
                        terms += [(brand, (p,), tags) for p in rule.platforms or PLATFORMS]
                    else:
                        terms.append((brand, rule.platforms, tags))
            if rule.kind == "listener_silent":
                self.listener_activity()
        terms = [t for t in dict.fromkeys(terms) if t not in self.terms]
        if terms:
            self._build_terms(terms)
        queried = [s for s in specs if s.query]
        self._scan([s for s in specs if not s.query], bool(queried) and self._odd is None)
        for spec in specs:
            self._match(spec, brands=sorted(spec_brands[spec]) if spec.query else None)

    def _scan(self, plain: list[MentionSpec], need_odd: bool) -> None:
        """Match the filters without a query that name a reach or authors, and (`need_odd`) find
        the odd texts, in one read of the links the database can tell may pass: a reach at
        least the smallest asked, a listed author, or anything beyond ASCII (SQLite's lower()
        folds ASCII only) or an underscore; each is then checked here as a full pass would."""
        who = [s for s in plain if s.min_reach is not None or s.authors]  # the rest: every link, in _match
        if not (who or need_odd):
            return
        reaches = [s.min_reach for s in who if s.min_reach is not None]
        authors = sorted({a for s in who for a in s.authors})
        brands = sorted({b for b, _p in self.columns})  # as a pass over the brands with buckets
        rows = self.store.link_rows(self.start, self.end, min_reach=min(reaches) if reaches else None,
                                    authors=authors, unusual=need_odd or bool(authors), text=need_odd,
                                    brands=brands) if brands else []
        found: dict[MentionSpec, dict] = {spec: {} for spec in who}
        odd: list[tuple] = []
        for row in rows:
            key, brand, at, platform, label, reach, author, text, title = row
            if need_odd and not (text.isascii() and (not title or title.isascii())
                                 and "_" not in text and "_" not in title):
                odd.append(tuple(row))
            for spec in who:
                if spec.sentiment and label != spec.sentiment:
                    continue
                if spec.who(reach, author):
                    found[spec].setdefault((brand, platform), []).append((at, key))
                    found[spec].setdefault((brand, None), []).append((at, key))
        if need_odd:
            self._odd = odd
        for spec, per in found.items():
            self._keep(spec, per)

    def _build_terms(self, keys: list[tuple[str, tuple[str, ...] | None, bool]]) -> None:
        """The term indexes of `keys`, brand by brand: one read of the brand's texts serves all
        of its indexes (only the texts holding a '#' when every one counts hashtags only, the
        bucket sizes then counted from the links), each distinct text tokenised once."""
        with_buckets = {b for b, _p in self.columns}
        by_brand: dict[str, list] = {}
        for key in keys:
            by_brand.setdefault(key[0], []).append(key)
        t0 = self.t0
        for brand, wanted in by_brand.items():
            indexes = {key: TermIndex(key[2]) for key in wanted}
            if brand in with_buckets:
                tags_only = all(key[2] for key in wanted)
                targets = [(key[1], key[2], {}) for key in wanted]
                rows = self.store.link_texts(brand, self.start, self.end, containing="#" if tags_only else None)
                caches: tuple[dict, dict] = ({}, {})  # by hashtags_only: a text's terms
                if len(targets) == 1 and not targets[0][0]:  # the usual case: one index, all platforms
                    _count_texts(rows, t0, targets[0][2], caches[targets[0][1]], targets[0][1])
                else:
                    _count_texts_by_platform(rows, t0, targets, caches)
                if tags_only:  # the texts without '#' were not read: sizes from the links
                    sizes: dict[int, dict[str, int]] = {}
                    for at, platform, n in self.store.link_counts(brand, self.start, self.end):
                        per = sizes.setdefault(at - (at - t0) % STEP, {})
                        per[platform] = per.get(platform, 0) + n
                    for platforms, _tags, buckets in targets:
                        for bucket, per in sizes.items():
                            n = sum(c for p, c in per.items() if not platforms or p in platforms)
                            if n:
                                entry = buckets.get(bucket)
                                if entry is None:
                                    buckets[bucket] = [n, Counter()]
                                else:
                                    entry[0] = n
                for key, (_platforms, _tags, buckets) in zip(wanted, targets):
                    index = indexes[key]
                    for bucket in sorted(buckets):
                        index.put_terms(bucket, buckets[bucket][0], buckets[bucket][1])
            self.terms.update(indexes)

    def _match(self, spec: MentionSpec, brand: str | None = None, *,
               brands: Sequence[str] | None = None) -> dict[tuple[str, str | None], list[int]]:
        """The times of `spec`'s matches per (brand, platform or None), read once per brand:
        `brands` (prepare: the brands of the rules using it) or every brand the first time, then
        any `brand` asked about that was not read yet. Without a brand: what is read."""
        found = self.matched.get(spec)
        part = self._partial.get(spec)
        if found is not None:
            if part is None or brand is None or brand in part:
                return found
            brands = [brand]
        exact = False
        if spec.query:
            fts = to_fts(spec.parsed)
            if fts is None:
                rows = self.store.link_rows(self.start, self.end, brands=brands)
            else:
                exact = fts_exact(spec.parsed) and all(
                    str(t).isascii() and "_" not in str(t) for t in spec.parsed.terms())
                odd = self._odd_rows()
                if brands is not None:
                    wanted = set(brands)
                    odd = [row for row in odd if row[1] in wanted]
                rows = self.store.link_rows(self.start, self.end, fts=fts, brands=brands) + odd
        else:
            rows = self.store.link_rows(self.start, self.end, min_reach=spec.min_reach, authors=spec.authors,
                                        unusual=bool(spec.authors), text=False, brands=brands)
        query, seen = spec.parsed, set()
        people = query is not None and not plain_text(query)
        found = {}
        verdicts: dict[tuple[str, str], bool] = {}  # per distinct text (reposts repeat them)
        tokens = self._token_memo
        sentiment, anyone = spec.sentiment, spec.min_reach is None and not spec.authors
        for key, brand, at, platform, label, reach, author, text, title in rows:
            if (key, brand) in seen:
                continue
            seen.add((key, brand))
            if sentiment and label != sentiment:
                continue
            if not (anyone or spec.who(reach, author)):
                continue
            if query is not None and people:
                # author: reads the row's author and platform, so no verdict per text; site:
                # would need the post's URL and links, which these rows do not carry: it
                # matches nothing here, as on a bare text (README, brand queries).
                if not query.match_target(Target(_tokens(text, title), author_key(author), platform)):
                    continue
            elif query is not None:
                ok = verdicts.get((text, title))
                if ok is None:
                    ok = exact and text.isascii() and (not title or title.isascii()) \
                        and "_" not in text and "_" not in title
                    if not ok:
                        toks = tokens.get((text, title))
                        if toks is None:
                            toks = _tokens(text, title)
                            if len(tokens) < _MEMO:
                                tokens[(text, title)] = toks
                        ok = query.match(toks)
                    if len(verdicts) < _MEMO:
                        verdicts[(text, title)] = ok
                if not ok:
                    continue
            found.setdefault((brand, platform), []).append((at, key))
            found.setdefault((brand, None), []).append((at, key))
        return self._keep(spec, found, brands)

    def _keep(self, spec: MentionSpec, found: dict[tuple[str, str | None], list[tuple[int, str]]],
              brands: Sequence[str] | None = None) -> dict:
        """Keep a filter's matches, (time, mention key) per (brand, platform or None), as sorted
        times (a count is two bisections) and the keys beside them (an alert's posts): of every
        brand, or added for `brands` to those read before."""
        times: dict[tuple[str, str | None], list[int]] = {}
        keys: dict[tuple[str, str | None], list[str]] = {}
        for group, pairs in found.items():
            pairs.sort()
            times[group] = [at for at, _key in pairs]
            keys[group] = [key for _at, key in pairs]
        if brands is None:
            self.matched[spec], self.matched_keys[spec] = times, keys
            self._partial.pop(spec, None)
            return times
        self.matched.setdefault(spec, {}).update(times)
        self.matched_keys.setdefault(spec, {}).update(keys)
        self._partial.setdefault(spec, set()).update(brands)
        return self.matched[spec]

    def _odd_rows(self) -> list[tuple]:
        if self._odd is None:
            self._scan([], True)
        return self._odd

    def _terms(self, brand: str, platforms: tuple[str, ...] | None, hashtags_only: bool = False) -> TermIndex:
        key = (brand, platforms, hashtags_only)
        if key not in self.terms:
            self._build_terms([key])
        return self.terms[key]

    # -- History -----------------------------------------------------------------------------

    def _index(self, dt: datetime) -> int:
        index = self._indexes.get(dt)
        if index is None:  # every rule asks about the same few instants of a step
            if len(self._indexes) > 100_000:
                self._indexes.clear()
            index = self._indexes[dt] = (int(dt.timestamp()) - self.t0) // STEP  # floors, as floor_bucket does
        return index

    def _key(self, brand: str, platforms: Sequence[str] | None) -> list[tuple[str, str | None]]:
        return [(brand, None)] if not platforms else [(brand, p) for p in platforms]

    def series(self, brand: str, start: datetime, end: datetime, *, sentiment: str | None = None,
               platforms: Sequence[str] | None = None) -> list[int]:
        lo, hi = self._index(start), self._index(end)
        out: list[int] | None = None
        for key in self._key(brand, platforms):
            cols = self.columns.get(key)
            if cols is None:
                continue
            values = cols[sentiment or "count"]
            part = values[max(lo, 0):max(min(hi, self.n), 0)]
            if lo < 0:
                part = [0] * min(-lo, hi - lo) + part
            if hi > self.n:
                part = part + [0] * (hi - max(lo, self.n))
            out = part if out is None else [a + b for a, b in zip(out, part)]
        return out if out is not None else [0] * max(0, hi - lo)

    def totals(self, brand: str, start: datetime, end: datetime, *,
               platforms: Sequence[str] | None = None) -> tuple[int, int, int]:
        lo = min(max(self._index(start), 0), self.n)
        hi = min(max(self._index(end), 0), self.n)
        count = negative = positive = 0
        for key in self._key(brand, platforms):
            sums = self.prefix.get(key)
            if sums is None:
                continue
            count += sums["count"][hi] - sums["count"][lo]
            negative += sums["negative"][hi] - sums["negative"][lo]
            positive += sums["positive"][hi] - sums["positive"][lo]
        return count, negative, positive

    def count_matching(self, brand: str, start: datetime, end: datetime, spec: MentionSpec, *,
                       platforms: Sequence[str] | None = None) -> int:
        found = self._match(spec, brand)
        lo, hi, n = epoch(start), epoch(end), 0
        for key in self._key(brand, platforms):
            times = found.get(key)
            if times:
                n += bisect_left(times, hi) - bisect_left(times, lo)
        return n

    def matching(self, brand: str, start: datetime, end: datetime, spec: MentionSpec, *,
                 platforms: Sequence[str] | None = None, limit: int | None = None) -> list[ScoredMention]:
        """The brand's mentions in [start, end) that `spec` accepts, most reached first: what
        `Context.matching` filters out of every mention of the window, read by key instead."""
        self._match(spec, brand)
        times, names = self.matched[spec], self.matched_keys[spec]
        lo, hi, keys = epoch(start), epoch(end), []
        for group in self._key(brand, platforms):
            found = times.get(group)
            if found:
                keys += names[group][bisect_left(found, lo):bisect_left(found, hi)]
        if not keys:
            return []
        if len(keys) > 900:  # past SQLite's safe number of parameters: filter the window instead
            found = self.mentions(brand, start, end, sentiment=spec.sentiment, platforms=platforms, order="reach")
            out = [sm for sm in found if spec.accepts(sm)]
        else:
            out = [self._scored(row) for row in self.store.mention_records(
                brand, start, end, sentiment=spec.sentiment, platforms=platforms, order="reach", keys=keys)]
        return out[:limit] if limit else out

    def novel_terms(self, brand: str, platforms: Sequence[str] | None, hashtags_only: bool, lookback: int,
                    start: int, end: int) -> bool:
        """Whether some term occurs in [start, end) (epoch seconds) with no occurrence in the
        `lookback` seconds before it. A term new over the lookback before a window must: when
        none is, a new_term check can stop (most steps of a backtest)."""
        key = (brand, tuple(platforms) if platforms else None, hashtags_only, lookback)
        events = self._novel.get(key)
        if events is None:  # the index is built once and never changes: so are these
            index = self._terms(brand, key[1], hashtags_only)
            found: set[int] = set()
            for where in index.occurs.values():
                prev = None
                for bucket in where:
                    if prev is None or bucket - prev > lookback:
                        found.add(bucket)
                    prev = bucket
            events = self._novel[key] = sorted(found)
        i = bisect_left(events, start)
        return i < len(events) and events[i] < end

    def term_index(self, brand: str, platforms: tuple[str, ...] | None, hashtags_only: bool = False) -> TermIndex:
        return self._terms(brand, tuple(platforms) if platforms else None, hashtags_only)

    def first_seen(self, brand: str) -> datetime | None:
        if brand not in self._first_seen:
            self._first_seen[brand] = self.store.first_seen(brand)
        return self._first_seen[brand]

    def listener_activity(self, until: datetime | None = None) -> list[dict]:
        """Recorded activity only: the last time each listener stored mentions up to `until`.
        Failures are unknown (None): past error counts are not stored."""
        if self.ingests is None:
            self.ingests = {}
            for listener, at in self.store.ingest_times(self.start - timedelta(days=30), self.end):
                self.ingests.setdefault(listener, []).append(at)
        limit = epoch(until) if until is not None else None
        if self._activity is not None and self._activity[0] == limit:
            return self._activity[1]
        rows = []
        for listener, times in sorted(self.ingests.items()):
            i = len(times) if limit is None else bisect_left(times, limit + 1)
            if i == 0:
                continue
            last = iso(datetime.fromtimestamp(times[i - 1], tz=self.start.tzinfo))
            rows.append({"listener": listener, "last_data": last, "last_success": last, "failures": None,
                         "last_error": None, "last_poll": last})
        self._activity = (limit, rows)
        return rows

    # What only explanations read: from the store, when asked.

    def authors(self, brand: str, start: datetime, end: datetime, *, platforms: Sequence[str] | None = None,
                sentiment: str | None = None) -> int:
        return self.store.authors(brand, start, end, platforms=platforms, sentiment=sentiment)

    def stats(self, brand: str, start: datetime, end: datetime, *,
              platforms: Sequence[str] | None = None) -> WindowStats:
        return self.store.stats(brand, start, end, platforms=platforms)

    def mentions(self, brand: str, start: datetime, end: datetime, *, sentiment: str | None = None,
                 platforms: Sequence[str] | None = None, limit: int | None = None,
                 order: str = "reach") -> list[ScoredMention]:
        """What `Store.mentions` returns, built from plain rows: the evidence of hundreds of
        alerts reads hundreds of thousands of mentions, and a Row per mention plus two JSON
        parses each cost more than everything else an alert does."""
        rows = self.store.mention_records(brand, start, end, sentiment=sentiment, platforms=platforms, limit=limit,
                                          order=order)
        return [self._scored(row) for row in rows]

    def _scored(self, row: tuple) -> ScoredMention:
        (_key, platform, native_id, kind, text, title, author, url, created_at, language, reach, engagement,
         metrics, label, polarity, scorer, terms, brands) = row
        cited = self._cited.get(terms)
        if cited is None:  # the few terms a scorer cites repeat: parse each list once
            cited = tuple(json.loads(terms or "[]"))
            if len(self._cited) < 100_000:
                self._cited[terms] = cited
        mention = Mention(platform=platform, id=native_id, text=text, author=author or "", url=url or "",
                          created_at=parse_iso(created_at), author_reach=reach or 0, engagement=engagement or 0,
                          language=language, title=title or "", kind=kind or "post",
                          metrics=json.loads(metrics) if metrics and metrics != "{}" else {})
        return ScoredMention(mention, tuple(brands.split("\x1f")) if brands else (), Score(label, polarity, scorer, cited))


class MemBook:
    """Rule states and alerts in memory, with the Store's methods the engine uses."""

    def __init__(self) -> None:
        self.states: dict[str, RuleState] = {}
        self.alerts: dict[int, Alert] = {}
        self.reports: dict[int, Report] = {}
        self.resolved: dict[int, datetime] = {}
        self.updates: list[tuple[int, datetime, str, Alert]] = []

    def rule_state(self, fingerprint: str) -> RuleState | None:
        return self.states.get(fingerprint)

    def save_state(self, state: RuleState, alert: Alert | None = None, notifiers: Sequence[str] = (),
                   now: datetime | None = None, resolved_alert: int | None = None) -> int | None:
        alert_id = state.alert_id
        if alert is not None:
            alert_id = len(self.alerts) + 1
            self.alerts[alert_id] = replace(alert, id=alert_id)
            self.reports[alert_id] = Report(alert.finding.observed, utc(alert.fired_at))
        if resolved_alert is not None and now is not None:
            self.resolved[resolved_alert] = utc(now)
            if resolved_alert in self.alerts:
                self.alerts[resolved_alert] = replace(self.alerts[resolved_alert], state="resolved")
        self.states[state.fingerprint] = replace(state, alert_id=alert_id)
        return alert_id if alert is not None else None

    def alert_report(self, alert_id: int) -> Report:
        return self.reports.get(alert_id, Report(None, None))

    def open_states(self) -> list[RuleState]:
        return [s for s in self.states.values() if s.state in ("firing", "pending")]

    def close_state(self, state: RuleState, reason: str, now: datetime) -> None:
        if state.state == "firing" and state.alert_id in self.alerts:
            alert = self.alerts[state.alert_id]
            self.alerts[state.alert_id] = replace(alert, state="resolved", finding=replace(
                alert.finding, title=f"{alert.finding.title} (closed: {reason})"))
            self.resolved[state.alert_id] = utc(now)
        self.states[state.fingerprint] = replace(state, state="resolved" if state.state == "firing" else "inactive",
                                                 since=None, false_since=None)

    def record_update(self, state: RuleState, alert: Alert, reason: str, now: datetime) -> None:
        if state.alert_id is not None:
            self.reports[state.alert_id] = Report(alert.finding.observed, utc(now))
            self.alerts[state.alert_id] = replace(alert, id=state.alert_id)
            self.updates.append((state.alert_id, now, reason, alert))
        self.states[state.fingerprint] = state
