"""Privacy redaction: e-mail addresses, phone numbers and private individuals' handles.

Used at ingest (before storage) and on messages to shared Slack channels ("minimum
necessary"). Pure and linear-time: post text is hostile, so there is no regex with nested or
unbounded quantifiers here. E-mails and phones are found by hand-written scanners that look
at each character a bounded number of times; the few regexes have only small bounded
repeats.

Detection runs on a *view* of the text: zero-width and other invisible characters dropped,
full-width forms NFKC-folded ("５５５" -> "555", "＠" -> "@"), each view character remembering
where it came from. Matches are mapped back and only those spans of the original text are
replaced, so everything else (emoji, odd spacing, the invisibles elsewhere) is kept as is.

What counts as a phone number, and why (the scanner collects runs of digit groups joined by
single separators, then accepts a window of groups only if it has a phone's shape):
* `+` then 8 to 15 digits: international (E.164 allows at most 15).
* `00` then 11 to 15 digits in groups: international with the European exit code.
* 3-3-4 or 1-3-3-4 groups, or `(3) 3-4`: North American.
* a leading `0` and 9 to 11 digits in groups of at least 2: national UK/EU forms
  ("0151 496 0000", "06 12 34 56 78", "030 1234567"); or unseparated, 10 to 11 digits.
* 10 unseparated digits only right after a phone word ("call", "text", "number", ...): a bare
  10-digit run is as likely an order number.
Never a phone: a run after a letter, `$ £ € # v` or an order word (order, ticket, invoice,
...); one followed by `:` (a time), a letter or `%`; dates (yyyy-mm-dd, dd.mm.yyyy and
friends); 7-digit local numbers ("555-1234" reads like a range or a code too often).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Iterable

# Unicode's default-ignorable code points (zero-width spaces and joiners, bidi controls,
# variation selectors, tag characters): the set bot.query drops before matching.
from bot.query import INVISIBLE
from bot.spans import merge, overlaps

EMAIL = "[email]"
PHONE = "[phone]"
HANDLE = "@[user]"
REDDIT_USER = "u/[user]"
DEFAULT_PUBLIC_REACH = 10_000


# --------------------------------------------------------------------------- public types


@dataclass(frozen=True)
class HandlePolicy:
    """Which handles stay readable: the brand's own and a keep list (public accounts,
    influencers). Names compare case-insensitively, without `@` or `u/`. An author whose
    reach is at least `public_reach` counts as a public account in `author_label`."""

    keep: frozenset[str] = frozenset()
    public_reach: int = DEFAULT_PUBLIC_REACH

    @classmethod
    def of(cls, keep: Iterable[str] = (), *, public_reach: int = DEFAULT_PUBLIC_REACH) -> HandlePolicy:
        return cls(frozenset(filter(None, (_handle_key(h) for h in keep))), public_reach)

    def keeps(self, handle: str) -> bool:
        return _handle_key(handle) in self.keep


@dataclass(frozen=True)
class Redaction:
    text: str
    emails: int = 0
    phones: int = 0
    handles: int = 0

    @property
    def counts(self) -> dict[str, int]:
        return {"email": self.emails, "phone": self.phones, "handle": self.handles}

    @property
    def total(self) -> int:
        return self.emails + self.phones + self.handles


def _handle_key(handle: str) -> str:
    h = unicodedata.normalize("NFKC", handle.translate(INVISIBLE)).strip().casefold()
    for prefix in ("@", "/u/", "u/"):
        if h.startswith(prefix):
            h = h[len(prefix):]
            break
    return h


# --------------------------------------------------------------------------- the view


def _view(text: str) -> tuple[str, list[int] | None]:
    """The text as detection sees it, and for each of its characters the index in `text` it
    came from (None: the view is the text itself, the common case, decided at C speed)."""
    stripped = text.translate(INVISIBLE)
    if stripped is text or stripped == text:
        if text.isascii() or unicodedata.is_normalized("NFKC", text):
            return text, None
    chars: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        if ord(ch) in INVISIBLE:
            continue
        folded = ch if ch.isascii() else unicodedata.normalize("NFKC", ch)
        for c in folded:
            chars.append(c)
            origin.append(i)
    return "".join(chars), origin


# --------------------------------------------------------------------------- e-mails

_LOCAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-'")
_MAX_LOCAL = 64
_MAX_DOMAIN = 253


def _is_local(c: str) -> bool:
    return c in _LOCAL or (not c.isascii() and c.isalnum())


def _is_domain(c: str) -> bool:
    return c.isalnum() or c == "-" or c == "."


def _emails_at(view: str, at: int, sep_len: int) -> tuple[int, int] | None:
    """The e-mail around a separator at `at` (`@` or `%40`), as a view span, or None."""
    start = at
    # With "%40" as the separator a "%" ends the local part: "%40%40%40..." is read once.
    while start > 0 and at - start < _MAX_LOCAL and _is_local(view[start - 1]) and (sep_len == 1 or view[start - 1] != "%"):
        start -= 1
    while start < at and view[start] in ".'":
        start += 1
    if start == at:
        return None
    end = at + sep_len
    n = len(view)
    while end < n and end - at < _MAX_DOMAIN and _is_domain(view[end]):
        end += 1
    while end > at + sep_len and view[end - 1] in ".-":
        end -= 1
    domain = view[at + sep_len:end]
    labels = domain.split(".")
    if len(labels) < 2 or any(not label for label in labels):
        return None
    tld = labels[-1]
    if len(tld) < 2 or not tld.isalpha():
        return None
    # mailto: belongs to the address: "<mailto:[email]|...>" would still say there was one
    if start >= 7 and view[start - 7:start].casefold() == "mailto:":
        start -= 7
    return start, end


# "jane [at] example [dot] com", "jane(at)example(dot)co(dot)uk", "jane at example dot com".
# Only small bounded repeats: at most 64 characters are tried from any start.
_OBF_AT = re.compile(
    r"(?i)(?<![\w.%+-])[a-z0-9][a-z0-9._%+-]{0,63}"
    r"(?:[ \t]{0,3}[\[({<][ \t]{0,3}at[ \t]{0,3}[\])}>][ \t]{0,3}|[ \t]{1,3}at[ \t]{1,3})"
    r"[a-z0-9][a-z0-9-]{0,62}"
)
_OBF_DOT = re.compile(
    r"(?i)(?:[ \t]{0,3}[\[({<][ \t]{0,3}dot[ \t]{0,3}[\])}>][ \t]{0,3}|[ \t]{1,3}dot[ \t]{1,3}|\.)"
    r"([a-z0-9][a-z0-9-]{0,62})"
)
_BRACKETED = re.compile(r"(?i)[\[({<][ \t]{0,3}(?:at|dot)[ \t]{0,3}[\])}>]")
# The spoken form "name at host dot com" is ordinary English too ("look at this dot com
# bubble"), so it needs a real top-level domain at the end.
_SPOKEN_TLDS = frozenset("com org net edu gov io co uk de fr nl es it ca au us info me biz".split())
# ...and neither side may be a word that "<verb> at <thing>" uses: "look at this dot com".
_SPOKEN_STOP = frozenset(
    "look looking looked stare staring laugh laughing laughed shop shopping meet meeting arrive "
    "arrived sign up out in go went be is are was were it this that the a an my your our their "
    "his her its me him them us home work school night least last first".split()
)


def _obfuscated_emails(view: str) -> list[tuple[int, int]]:
    lowered = view.casefold()
    if "at" not in lowered or "dot" not in lowered:
        return []
    spans = []
    pos = 0
    while True:
        m = _OBF_AT.search(view, pos)
        if m is None:
            return spans
        end = m.end()
        bracketed = _BRACKETED.search(view, m.start(), m.end()) is not None
        labels = 0
        last = ""
        for _ in range(8):  # a.b.c.d.e.f.g.h is deep enough; keeps the loop bounded
            d = _OBF_DOT.match(view, end)
            if d is None:
                break
            end, labels, last = d.end(), labels + 1, d.group(1).casefold()
        ok = labels >= 1 and last.isalpha() and len(last) >= 2
        if ok and not bracketed:
            words = lowered[m.start():end].split()
            ok = (last in _SPOKEN_TLDS and " dot " in lowered[m.start():end]
                  and words[0] not in _SPOKEN_STOP and words[2] not in _SPOKEN_STOP)
        if ok and (end == len(view) or not (view[end].isalnum() or view[end] == "_")):
            spans.append((m.start(), end))
            pos = end
        else:
            pos = m.start() + 1


def _find_emails(view: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    pos = 0
    # Each separator's next position is searched again only once the scan has passed it, so a
    # text of 100,000 "@" is read once, not once per "@".
    next_at = view.find("@")
    next_pct = view.find("%40")
    while next_at >= 0 or next_pct >= 0:
        if next_at < 0 or (0 <= next_pct < next_at):
            found, sep = next_pct, 3
        else:
            found, sep = next_at, 1
        span = _emails_at(view, found, sep)
        if span is not None and (not spans or span[0] >= spans[-1][1]):
            spans.append(span)
            pos = span[1]
        else:
            pos = found + sep
        if 0 <= next_at < pos:
            next_at = view.find("@", pos)
        if 0 <= next_pct < pos:
            next_pct = view.find("%40", pos)
    spans.extend(_obfuscated_emails(view))
    return merge(spans)


# --------------------------------------------------------------------------- phones

_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2212"
_SEPARATORS = frozenset(" .()" + _DASHES)
_MAX_SEPARATOR = 3  # ") (" at most between two groups
_NOT_BEFORE = frozenset("$£€¥₹#%/:_@&*^~=<>\\")
_PHONE_WORDS = frozenset(
    "call calling text texting phone tel telephone mobile cell number whatsapp ring sms fax "
    "contact reach dial".split()
)
_ORDER_WORDS = frozenset(
    "order ticket case ref reference invoice confirmation tracking transaction receipt claim "
    "policy member id account acct serial sku isbn po booking reservation version build "
    "pin code zip no".split()
)
_MAX_WINDOW = 7  # groups in one number: "+33 6 12 34 56 78" has six


@dataclass
class _Group:
    start: int  # view index of the first digit (or of the "+" / "(" that opens it)
    end: int  # view index after the last digit (after a ")" that closes it)
    digits: str
    sep_before: str  # the separator characters between the previous group and this one
    plus: bool = False
    paren: bool = False


def _word_before(view: str, i: int) -> str:
    """The word ending just before index i (skipping spaces and a few punctuation marks)."""
    j = i
    while j > 0 and i - j < 4 and view[j - 1] in " :#.\t":
        j -= 1
    k = j
    while k > 0 and j - k < 16 and view[k - 1].isalpha():
        k -= 1
    return view[k:j].casefold()


def _phone_cue_near(view: str, i: int) -> bool:
    """A phone word in the ~24 characters before i ("call me on", "my number is")."""
    words = re.findall(r"[a-z]{2,12}", view[max(0, i - 24):i].casefold())
    return any(w in _PHONE_WORDS for w in words)


def _is_date(groups: list[_Group]) -> bool:
    for a, b, c in zip(groups, groups[1:], groups[2:]):
        x, y, z = a.digits, b.digits, c.digits
        if len(x) == 4 and len(y) <= 2 and len(z) <= 2 and x[:2] in ("19", "20") and 1 <= int(y) <= 12:
            return True
        if len(z) == 4 and len(x) <= 2 and len(y) <= 2 and z[:2] in ("19", "20") and int(x) <= 31 and int(y) <= 31:
            return True
    return False


def _shape_ok(view: str, groups: list[_Group]) -> bool:
    first = groups[0]
    digits = "".join(g.digits for g in groups)
    n = len(digits)
    lengths = [len(g.digits) for g in groups]
    # Context: what stands before the number and right after it.
    before = view[first.start - 1] if first.start > 0 else " "
    if before.isalnum() or before in _NOT_BEFORE or (before in "." and first.start > 1 and view[first.start - 2].isdigit()):
        return False
    end = groups[-1].end
    after = view[end] if end < len(view) else " "
    if after.isalnum() or after in "%:°'" or after == "_":
        return False
    if after in "." and end + 1 < len(view) and view[end + 1].isdigit():
        return False
    if _is_date(groups):
        return False
    word = _word_before(view, first.start)
    if word in _ORDER_WORDS:
        return False
    if first.plus:
        return 8 <= n <= 15 and (len(groups) == 1 or lengths[0] <= 3)
    if len(groups) >= 2 and digits.startswith("00"):
        return 11 <= n <= 15
    if lengths in ([3, 3, 4], [1, 3, 3, 4]) and (lengths[0] == 3 or digits[0] == "1"):
        return digits[lengths[0] - 3] != "0" if lengths[0] == 3 else True
    if first.paren and lengths == [3, 3, 4]:
        return True
    if digits[0] == "0" and len(groups) >= 2:
        return 9 <= n <= 11 and min(lengths) >= 2
    if len(groups) == 1:
        if digits[0] == "0" and digits[1:2] != "0" and 10 <= n <= 11:
            return True
        if n == 10 and digits[0] in "23456789":
            return _phone_cue_near(view, first.start)
        if n == 11 and digits[0] == "1":
            return _phone_cue_near(view, first.start)
    return False


def _digit_runs(view: str) -> list[list[_Group]]:
    """Maximal runs of digit groups joined by short separators; linear in the text."""
    runs: list[list[_Group]] = []
    n = len(view)
    i = 0
    while i < n:
        c = view[i]
        if not (c.isdigit() and c.isascii()) and not (c == "+" and i + 1 < n and view[i + 1].isdigit()) \
                and not (c == "(" and i + 1 < n and view[i + 1].isdigit()):
            i += 1
            continue
        run: list[_Group] = []
        sep = ""
        while i < n:
            start = i
            plus = paren = False
            if view[i] == "+":
                plus = True
                i += 1
            elif view[i] == "(":
                paren = True
                i += 1
            j = i
            while j < n and view[j].isdigit() and view[j].isascii():
                j += 1
            if j == i:  # "(" or "+" with no digits after it
                break
            end = j
            if paren:
                if j < n and view[j] == ")":
                    end = j + 1
                else:
                    paren = False
            run.append(_Group(start, end, view[i:j], sep, plus, paren))
            # The separator to the next group: up to three of space . ( ) and dashes.
            k = end
            while k < n and k - end < _MAX_SEPARATOR and view[k] in _SEPARATORS and view[k] != "(":
                k += 1
            if k < n and view[k] in "(+" and k + 1 < n and view[k + 1].isdigit():
                pass
            elif not (k < n and view[k].isdigit() and view[k].isascii()) or (k == end and not paren):
                i = end
                break
            sep = view[end:k]
            i = k
        else:
            i = max(i, n)
        if run:
            runs.append(run)
            i = max(i, run[-1].end)
        else:
            i += 1
    return runs


def _find_phones(view: str, taken: list[tuple[int, int]]) -> list[tuple[int, int]]:
    if not any(c.isdigit() for c in view):
        return []
    spans: list[tuple[int, int]] = []
    for run in _digit_runs(view):
        cum = [0]
        for g in run:
            cum.append(cum[-1] + len(g.digits))
        s = 0
        while s < len(run):
            hit = None
            if cum[min(len(run), s + _MAX_WINDOW)] - cum[s] < 8:  # too few digits ahead for a phone
                s += 1
                continue
            for e in range(min(len(run), s + _MAX_WINDOW), s, -1):
                if not 8 <= cum[e] - cum[s] <= 15:  # no phone has fewer or more digits
                    continue
                window = run[s:e]
                if any(g.plus for g in window[1:]) or any(g.paren for g in window[2:]):
                    continue
                if any(len(g.sep_before.strip(" ")) > 1 and g.sep_before.strip(" ") not in (")", "-", "–") for g in window[1:]):
                    continue
                if _shape_ok(view, window):
                    hit = (window[0].start, window[-1].end, e)
                    break
            if hit is None:
                s += 1
                continue
            start, end, s = hit
            if not overlaps(start, end, taken):
                spans.append((start, end))
    return spans


# --------------------------------------------------------------------------- handles


def _is_handle_char(c: str) -> bool:
    return c.isalnum() or c in "_.-"


def _find_handles(view: str, policy: HandlePolicy, taken: list[tuple[int, int]]) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    n = len(view)
    pos = 0
    # @name: X, YouTube and the like (X allows letters, digits and _; YouTube adds . and -).
    while True:
        at = view.find("@", pos)
        if at < 0:
            break
        pos = at + 1
        if at > 0 and (_is_handle_char(view[at - 1]) or view[at - 1] in "@/+"):
            continue
        end = at + 1
        while end < n and end - at <= 100 and _is_handle_char(view[end]):
            end += 1
        while end > at + 1 and view[end - 1] in ".-":
            end -= 1
        name = view[at + 1:end]
        pos = max(pos, end)
        if not name or not any(c.isalnum() for c in name):
            continue
        if policy.keeps(name) or overlaps(at, end, taken):
            continue
        spans.append((at, end, HANDLE))
    # u/name and /u/name: Reddit.
    pos = 0
    while True:
        u = view.find("u/", pos)
        if u < 0:
            break
        pos = u + 2
        if u > 0 and view[u - 1] not in " \t\n([\"'“‘/,:;" :
            continue
        if view[u].casefold() != "u":
            continue
        start = u - 1 if u > 0 and view[u - 1] == "/" else u
        if start > 0 and view[start - 1] not in " \t\n([\"'“‘,:;":
            continue
        end = u + 2
        while end < n and end - u <= 30 and (view[end].isalnum() or view[end] in "_-"):
            end += 1
        name = view[u + 2:end]
        pos = max(pos, end)
        if len(name) < 2 or policy.keeps(name) or overlaps(start, end, taken):
            continue
        spans.append((start, end, REDDIT_USER))
    return spans


# --------------------------------------------------------------------------- redact


def redact(text: str, *, emails: bool = True, phones: bool = True,
           handles: HandlePolicy | None = None) -> Redaction:
    """`text` with e-mail addresses, phone numbers and (when a policy is given) the handles
    of private individuals replaced by `[email]`, `[phone]`, `@[user]` / `u/[user]`."""
    if not text:
        return Redaction(text)
    view, origin = _view(text)
    found: list[tuple[int, int, str]] = []
    taken: list[tuple[int, int]] = []
    if emails and ("@" in view or "%40" in view or "at" in view.casefold()):
        for s, e in _find_emails(view):
            found.append((s, e, EMAIL))
        taken = [(s, e) for s, e, _ in found]
    if phones:
        for s, e in _find_phones(view, taken):
            found.append((s, e, PHONE))
    if handles is not None and ("@" in view or "u/" in view or "U/" in view):
        # An address left in place (emails=False) is not a handle: "jane@example.com".
        skip = merge([(s, e) for s, e, _ in found] + ([] if emails or "@" not in view else _find_emails(view)))
        found.extend(_find_handles(view, handles, skip))
    if not found:
        return Redaction(text)
    found.sort()
    out: list[str] = []
    last = 0
    counts = {EMAIL: 0, PHONE: 0, HANDLE: 0, REDDIT_USER: 0}
    for s, e, kind in found:
        a = s if origin is None else origin[s]
        b = e if origin is None else origin[e - 1] + 1
        if a < last:
            continue
        out.append(text[last:a])
        out.append(kind)
        counts[kind] += 1
        last = b
    out.append(text[last:])
    return Redaction("".join(out), counts[EMAIL], counts[PHONE], counts[HANDLE] + counts[REDDIT_USER])


# --------------------------------------------------------------------------- author labels

_PLATFORM_NAMES = {"x": ("an X user", "followers"), "twitter": ("an X user", "followers"),
                   "youtube": ("a YouTube user", "subscribers")}
# Reddit has no follower count: the listener stores the subreddit's subscribers as the reach
# (see listeners/reddit.py). That is the audience of the place, not of the person, so it never
# makes a Redditor a public account; only the keep list does.
_AUDIENCE_OF_PLACE = {"reddit": ("a Reddit user", "in a community of {n}")}


def display_handle(author: str, platform: str) -> str:
    if platform == "reddit":
        return f"u/{author}"
    if platform in ("x", "twitter"):
        return f"@{author}"
    return author


def author_label(author: str, reach: int | None, platform: str,
                 policy: HandlePolicy | None = None) -> str:
    """How an author shows in a shared channel: a public account (reach at least the
    policy's `public_reach`, or on its keep list) by handle; a private individual as "an X
    user (45 followers)", "a YouTube user (12 subscribers)" or "a Reddit user (in a
    community of 31,200)"."""
    policy = policy or HandlePolicy()
    place = _AUDIENCE_OF_PLACE.get(platform)
    if author and policy.keeps(author):
        return display_handle(author, platform)
    if place is not None:
        noun, audience = place
        return f"{noun} ({audience.format(n=f'{reach:,}')})" if reach else noun
    if author and reach is not None and reach >= policy.public_reach:
        return display_handle(author, platform)
    noun, unit = _PLATFORM_NAMES.get(platform, (f"a {platform or 'platform'} user", "followers"))
    if not reach:
        return noun
    if reach == 1:
        unit = unit[:-1]
    return f"{noun} ({reach:,} {unit})"
