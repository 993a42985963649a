"""bot/lang.py: offline language id, and 'und' where it cannot tell."""

from __future__ import annotations

import pytest

from bot.lang import UNDETERMINED, detect


@pytest.mark.parametrize("text, code", [
    ("Mindful Health charged me twice this month", "en"),
    ("@MindfulHealth me cobró dos veces, qué vergüenza https://t.co/abc", "es"),
    ("Ich liebe diese App, die Therapeutin hört wirklich zu #MindfulHealth", "de"),
    ("A Mindful Health é ótima, recomendo para todos", "pt"),
    ("Mindful Health est vraiment nul, je suis déçu", "fr"),
    ("Mindful Health è fantastico, lo consiglio", "it"),
    ("माइंडफुल हेल्थ बहुत अच्छा है", "hi"),
    ("مايندفول هيلث رائع جدا", "ar"),
])
def test_the_languages_we_score_are_told_apart(text, code):
    found, confidence = detect(text)
    assert found == code and confidence >= 0.5


@pytest.mark.parametrize("text", ["", "ok", "😡😡😡", "https://example.com/x @someone", "12345 !!!", "\u200b\u202e"])
def test_too_little_to_tell_is_undetermined(text):
    assert detect(text)[0] == UNDETERMINED
