from bot.terms import driving_terms


def test_terms_that_rose_lead_and_brand_words_are_left_out():
    window = ["Mindful Health leaked my therapy notes, never again"] * 8 + ["hipaa breach at Mindful Health"] * 4
    before = ["love my Mindful Health therapist", "Mindful Health billing question"] * 40
    terms = driving_terms(window, before, exclude=["mindful", "health"])
    assert "leaked" in terms and "never again" in terms and "hipaa breach" in terms
    assert not any("mindful" in t or "health" in t for t in terms)


def test_nothing_frequent_enough_means_no_terms():
    assert driving_terms(["one post about refunds"], ["x"] * 10) == ()
    assert driving_terms([], ["x"]) == ()
