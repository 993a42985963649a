from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.kinds import mention
from bot.kinds.mention import Options


def test_batches_matching_posts_into_one_digest(history):
    history.steady(24, 10)
    history.add(24, 6, text="Mindful Health had a data breach, HIPAA violation?", reach=900)
    history.add(24, 3, text="Mindful Health breakfast club")
    options = Options(query='breach* OR hipaa OR "class action"', min_matches=5)
    trigger = mention.check(options, history.ctx(25))
    assert trigger is not None and trigger.observed == 6
    finding = mention.explain(options, history.ctx(25), trigger)
    assert finding.title == "Keyword match: Mindful, 6 posts in 1h"
    assert len(finding.posts) == 5 and all("breach" in p.text for p in finding.posts)
    assert dict(finding.facts)["Query"] == 'breach* OR hipaa OR "class action"'


def test_whole_words_and_reach_filter(history):
    history.add(0, 5, text="Mindful Health breakfast", reach=10)
    assert mention.check(Options(query="break*", min_matches=5), history.ctx(1)) is not None
    assert mention.check(Options(query="break", min_matches=1), history.ctx(1)) is None
    assert mention.check(Options(query="break*", min_matches=1, min_reach=11), history.ctx(1)) is None


def test_a_broken_query_is_a_validation_error_with_position():
    with pytest.raises(ValidationError, match=r"unbalanced '\(': add the closing '\)' \(at character 6\)"):
        Options(query="leak (breach OR hipaa")
