from bot.normalise import MAX_TEXT, clean, normalise
from tests.helpers import mention


def test_clean_keeps_text_and_drops_what_breaks_terminals():
    assert clean("  caf\u0065\u0301  &amp; <b>\r\nok\x00 ") == "caf\u00e9 &amp; <b>\nok"
    assert clean("a\n\n\n\n\nb") == "a\n\nb"
    assert len(clean("x" * (MAX_TEXT + 10))) == MAX_TEXT


def test_normalise_drops_empty_and_clamps_numbers():
    assert normalise(mention(1, " \x07 ")) is None
    m = normalise(mention(2, "hi", reach=-5))
    assert m.author_reach == 0 and m.created_at.tzinfo is not None
