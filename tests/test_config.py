"""bot/config.py and bot/yamlsrc.py: config.yaml -> Config, and every problem at file:line:col."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import Config, load_config
from bot.errors import ConfigError, Problem
from bot.yamlsrc import Source, dotted, load, suggest
from listeners import REGISTRY

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = (ROOT / "config.yaml").read_text(encoding="utf-8")

MINI = """\
brands:
  mindful:
    query: mindful
"""


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"the test's anchor {old!r} is not in the text exactly once"
    return text.replace(old, new)


def where(text: str, needle: str) -> tuple[int, int]:
    """1-based line and column of `needle`, which must occur once."""
    assert text.count(needle) == 1, needle
    before = text[: text.index(needle)]
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


def problems(tmp_path: Path, text: str) -> tuple[Path, list[Problem]]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems, "a ConfigError must carry its problems"
    return path, caught.value.problems


def only(tmp_path: Path, text: str) -> tuple[Path, Problem]:
    path, found = problems(tmp_path, text)
    assert len(found) == 1, [str(p) for p in found]
    return path, found[0]


# --- the shipped file -------------------------------------------------------------------------------

def test_the_shipped_config_loads_without_problems():
    config = load_config(ROOT / "config.yaml")
    assert isinstance(config, Config)
    assert config.warnings == ()
    assert list(config.brands) == ["mindful", "theranow", "haven"]
    assert {k: b.kind for k, b in config.brands.items()} == {
        "mindful": "brand", "theranow": "competitor", "haven": "competitor"}
    assert config.brands["mindful"].name == "Mindful Health"
    assert config.brands["mindful"].matches("Loving Mindful Health so far")
    assert not config.brands["mindful"].matches("mindful eating with Mindful Health")
    assert config.evaluate_every == timedelta(minutes=5)
    assert sorted(config.listeners) == sorted(REGISTRY.keys() - {"demo"})  # every real listener, shown
    assert config.listeners["youtube"].every == timedelta(hours=1)
    assert config.model.sentiment.scorer == "harkbot"
    assert config.model.slack.default_channel in config.model.slack.channels
    assert config.database == ROOT / "harkbot.db"
    assert config.rules_dir == ROOT / "rules"


def test_the_demo_config_loads_without_problems():
    config = load_config(ROOT / "bot" / "demo" / "config.yaml")
    assert config.warnings == ()
    assert config.brands


def test_paths_are_relative_to_the_config_file(tmp_path):
    config = load_config(write(tmp_path, MINI + "database: data/h.db\nrules: my-rules\n"))
    assert config.database == tmp_path / "data" / "h.db"
    assert config.rules_dir == tmp_path / "my-rules"


def test_defaults(tmp_path):
    config = load_config(write(tmp_path, MINI))
    assert config.evaluate_every == timedelta(minutes=5)
    assert config.listeners == {}
    assert config.brands["mindful"].name == "mindful"  # the key, when no name is given
    assert config.brands["mindful"].kind == "brand"
    assert config.model.slack.token == "${SLACK_BOT_TOKEN}"


def test_env_references_stay_unresolved_in_the_model(tmp_path, monkeypatch):
    # credentials are resolved when a listener starts, from the env it is given; never here
    monkeypatch.setenv("X_BEARER_TOKEN", "real-secret-value")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-real")
    config = load_config(write(tmp_path, SHIPPED))
    assert config.listeners["twitter"].bearer_token == "${X_BEARER_TOKEN}"
    assert config.model.listeners["twitter"]["bearer_token"] == "${X_BEARER_TOKEN}"
    assert config.model.slack.token == "${SLACK_BOT_TOKEN}"
    assert "real-secret-value" not in repr(config)
    assert "xoxb-real" not in repr(config)


# --- unknown keys, with suggestions ------------------------------------------------------------------

def test_misspelt_listener_option(tmp_path):
    text = edit(SHIPPED, "    every: 5m\n    bearer_token", "    evry: 5m\n    bearer_token")
    path, problem = only(tmp_path, text)
    line, col = where(text, "evry")
    assert str(problem) == f"{path}:{line}:{col}: listeners.twitter.evry: unknown key (did you mean 'every'?)"


def test_unknown_top_level_key(tmp_path):
    text = SHIPPED + "databse: other.db\n"
    path, problem = only(tmp_path, text)
    line, _ = where(text, "databse")
    assert str(problem) == f"{path}:{line}:1: databse: unknown key (did you mean 'database'?)"


def test_unknown_top_level_key_without_a_close_match_lists_the_keys(tmp_path):
    path, problem = only(tmp_path, MINI + "zzz: 1\n")
    assert str(problem) == (f"{path}:4:1: zzz: unknown key (expected one of: brands, database, "
                            "evaluate_every, ingest, listeners, metrics, notifiers, privacy, retention, rules, safety, sentiment, slack)")


def test_unknown_brand_option(tmp_path):
    path, problem = only(tmp_path, MINI + "    exlude: spam\n")
    assert str(problem) == f"{path}:4:5: brands.mindful.exlude: unknown key (did you mean 'exclude'?)"


def test_unknown_listener_name(tmp_path):
    text = edit(SHIPPED, "  youtube:", "  youtub:")
    path, problem = only(tmp_path, text)
    line, col = where(text, "youtub:")
    assert str(problem) == f"{path}:{line}:{col}: listeners.youtub: unknown listener 'youtub' (did you mean 'youtube'?)"


def test_listener_set_to_false_is_an_error_not_a_listener_with_defaults(tmp_path):
    # `youtube: false` once read as `false or {}`: YouTube on, with every default
    path, problem = only(tmp_path, MINI + "listeners:\n  youtube: false\n")
    assert str(problem) == (f"{path}:5:12: listeners.youtube: must be a mapping of options "
                            "(to switch it off, write `enabled: false` under it)")


def test_listener_with_no_options_takes_the_defaults(tmp_path):
    config = load_config(write(tmp_path, MINI + "listeners:\n  youtube:\n"))
    assert config.listeners["youtube"].enabled
    assert config.listeners["youtube"].api_key == "${YOUTUBE_API_KEY}"


def test_listener_disabled(tmp_path):
    config = load_config(write(tmp_path, MINI + "listeners:\n  youtube:\n    enabled: false\n"))
    assert config.listeners["youtube"].enabled is False


def test_listeners_must_be_a_mapping(tmp_path):
    path, problem = only(tmp_path, MINI + "listeners: [twitter]\n")
    assert str(problem) == f"{path}:4:12: listeners: must be a mapping of listener name to options"


# --- values -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, message", [
    ("5 minutes", "'5 minutes' is not a duration; write a number and a unit: 90s, 5m, 2h, 7d"),
    ("5", "5 has no unit; write 5s, 5m, 5h or 5d"),
    ("0s", "'0s' must be longer than zero"),
    ('"5"', "'5' is not a duration"),
    ("10000000000d", "'10000000000d' is too long"),
])
def test_bad_evaluate_every(tmp_path, value, message):
    path, problem = only(tmp_path, MINI + f"evaluate_every: {value}\n")
    assert str(problem).startswith(f"{path}:4:17: evaluate_every: {message}")


@pytest.mark.parametrize("value, message", [
    ("5 minutes", "'5 minutes' is not a duration"),
    ("5", "5 has no unit"),
    ("0s", "must be longer than zero"),
])
def test_bad_listener_every(tmp_path, value, message):
    text = edit(SHIPPED, "every: 1h ", f"every: {value} ")
    path, problem = only(tmp_path, text)
    line, col = where(text, f"every: {value} ")  # the youtube line has a comment after it
    assert problem.path == "listeners.youtube.every"
    assert (problem.line, problem.col) == (line, col + len("every: "))
    assert message in problem.message


def test_bad_brand_kind_lists_the_choices(tmp_path):
    path, problem = only(tmp_path, MINI + "    kind: competitr\n")
    assert str(problem) == (f"{path}:4:11: brands.mindful.kind: Input should be 'brand', 'competitor' "
                            "or 'topic' (did you mean 'competitor'?)")


def test_bad_brand_kind_far_from_any_choice(tmp_path):
    _, problem = only(tmp_path, MINI + "    kind: rival\n")
    assert problem.hint == "expected one of: brand, competitor, topic"


def test_missing_query(tmp_path):
    path, problem = only(tmp_path, "brands:\n  mindful:\n    name: Mindful Health\n")
    assert str(problem) == f"{path}:3:5: brands.mindful: 'query' is required but missing (add 'query:' here)"


def test_missing_brands(tmp_path):
    path, problem = only(tmp_path, "database: h.db\n")
    assert str(problem) == f"{path}:1:1: 'brands' is required but missing (add 'brands:' here)"


def test_no_brands(tmp_path):
    path, problem = only(tmp_path, "brands: {}\n")
    assert str(problem) == f"{path}:1:9: brands: define at least one brand"


def test_brand_must_be_a_mapping(tmp_path):
    path, problem = only(tmp_path, "brands:\n  mindful: mindful\n")
    assert str(problem) == f"{path}:2:12: brands.mindful: must be a mapping of keys"


def test_brand_key_must_be_a_simple_name(tmp_path):
    path, problem = only(tmp_path, "brands:\n  Mindful Health:\n    query: mindful\n")
    assert str(problem) == (f"{path}:2:3: brands.Mindful Health: brand key 'Mindful Health' is not a simple "
                            "name (use lower-case letters, digits, - and _)")


def test_numeric_brand_key_points_at_the_key(tmp_path):
    path, problem = only(tmp_path, "brands:\n  123:\n    query: mindful\n")
    assert (problem.line, problem.col) == (2, 3)
    assert problem.message == "a key here must be text"
    assert "[key]" not in problem.path


def test_slack_default_channel_must_be_a_channel(tmp_path):
    text = edit(SHIPPED, "default_channel: alerts", "default_channel: alert")
    path, problem = only(tmp_path, text)
    line, col = where(text, "default_channel: alert")
    assert str(problem) == (f"{path}:{line}:{col + len('default_channel: ')}: slack.default_channel: "
                            "'alert' is not one of slack.channels (did you mean 'alerts'?)")


def test_slack_default_channel_without_channels(tmp_path):
    _, problem = only(tmp_path, MINI + "slack:\n  channels: {}\n  default_channel: alerts\n")
    assert (problem.line, problem.col, problem.path) == (6, 20, "slack.default_channel")
    assert "none are defined under slack.channels" in problem.message


def test_unknown_sentiment_scorer(tmp_path):
    path, problem = only(tmp_path, MINI + "sentiment:\n  scorer: vadr\n")
    assert str(problem) == f"{path}:5:11: sentiment.scorer: unknown scorer 'vadr' (did you mean 'vader'?)"


def test_sentiment_thresholds_out_of_range_and_out_of_order(tmp_path):
    _, found = problems(tmp_path, MINI + "sentiment:\n  negative_below: -2\n")
    assert [(p.line, p.col, p.path) for p in found] == [(5, 19, "sentiment.negative_below")]
    _, found = problems(tmp_path, MINI + "sentiment:\n  negative_below: 0.5\n  positive_above: 0.1\n")
    assert [p.message for p in found] == ["negative_below must not be above positive_above"]


# --- brand queries: errors at the character, however the value is written -----------------------------

@pytest.mark.parametrize("value, line, col, message", [
    # plain: the value starts at column 12; "a OR" ends at offset 4
    ("a OR", 3, 16, "the query ends where a term was expected"),
    ("x (y", 3, 14, "unbalanced '('"),
    # quoted: the query text starts one column after the quote
    ("'x (y'", 3, 15, "unbalanced '('"),
    ('"x (y"', 3, 15, "unbalanced '('"),
    ("'\"mindful health\" OR (app'", 3, 33, "unbalanced '('"),
    ("'\"mindful health'", 3, 13, 'unterminated "phrase"'),
    # '' is one quote in the value but two characters in the file
    ("'it''s (x'", 3, 19, "unbalanced '('"),
    # \" is one character in the value, two in the file
    ('"\\"a\\" (x"', 3, 19, "unbalanced '('"),
    # block scalars: the text is on the next line, after its indentation
    (">-\n      mindful OR", 4, 17, "the query ends where a term was expected"),
    ("|-\n      mindful (x", 4, 15, "unbalanced '('"),
    # folded over lines: the error is on the second line
    ("'mindful OR\n      (health'", 4, 7, "unbalanced '('"),
    ("mindful OR\n      (health", 4, 7, "unbalanced '('"),
])
def test_query_errors_point_at_the_character(tmp_path, value, line, col, message):
    path, problem = only(tmp_path, f"brands:\n  mindful:\n    query: {value}\n")
    assert (problem.line, problem.col) == (line, col), str(problem)
    assert problem.path == "brands.mindful.query"
    assert message in problem.message
    assert problem.hint == 'see "Brand queries" in the README'


def test_exclude_query_errors_point_at_the_character(tmp_path):
    text = edit(SHIPPED, """exclude: '"mindful eating" OR "be mindful"'""", """exclude: '"mindful eating" OR "be mindful'""")
    path, problem = only(tmp_path, text)
    line, col = where(text, '"be mindful')
    assert str(problem) == (f"{path}:{line}:{col}: brands.mindful.exclude: query: unterminated \"phrase\": add the "
                            'closing quote (see "Brand queries" in the README)')


def test_a_query_error_in_the_shipped_layout(tmp_path):
    text = edit(SHIPPED, "query: '\"haven therapy\" OR haventherapy'", "query: '\"haven therapy\" OR (haventherapy'")
    path, problem = only(tmp_path, text)
    line, col = where(text, "(haventherapy")
    assert (problem.line, problem.col) == (line, col)


# --- YAML itself -----------------------------------------------------------------------------------------

def test_yaml_syntax_error_has_the_line(tmp_path):
    text = edit(SHIPPED, "  reddit:\n", "  reddit\n")
    path, problem = only(tmp_path, text)
    reddit_line, _ = where(text, "  reddit\n")
    assert problem.file == str(path)
    assert problem.line in (reddit_line, reddit_line + 1)  # where YAML noticed; it names the key's line
    assert problem.message.startswith("YAML syntax: ")
    assert f"line {reddit_line}" in problem.message
    assert "check indentation, colons and quotes" in problem.hint


def test_yaml_unclosed_quote_says_where_it_opened(tmp_path):
    _, problem = only(tmp_path, 'brands:\n  mindful:\n    query: "mindful\n    kind: brand\n')
    assert problem.message.startswith("YAML syntax: ")
    assert "starts at line 3, column 12" in problem.message


def test_duplicate_key_is_a_syntax_error(tmp_path):
    path, problem = only(tmp_path, MINI + "  mindful:\n    query: other\n")
    assert (problem.line, problem.col) == (4, 3)
    assert "duplicate key" in problem.message


def test_python_tags_are_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"
    text = MINI + f"evaluate_every: !!python/object/apply:os.system ['touch {marker}']\n"
    path, problem = only(tmp_path, text)
    assert not marker.exists()
    assert str(problem) == (f"{path}:4:17: evaluate_every: the YAML tag '!!python/object/apply:os.system' is not "
                            "allowed (these files hold plain values only; remove the tag)")


@pytest.mark.parametrize("value, tag", [
    ("!!python/name:os.system", "!!python/name:os.system"),
    ("!!python/tuple [1, 2]", "!!python/tuple"),
    ("!!python/object:bot.config.Config {}", "!!python/object:bot.config.Config"),
    ("!custom mindful", "!custom"),
    ("!<tag:example.com,2000:app/foo> mindful", "tag:example.com,2000:app/foo"),
    ("!!set {a, b}", "!!set"),
    ("!!omap [a: 1]", "!!omap"),
])
def test_non_standard_tags_are_refused_at_their_position(tmp_path, value, tag):
    path, problem = only(tmp_path, f"brands:\n  mindful:\n    query: {value}\n")
    assert (problem.line, problem.col, problem.path) == (3, 12, "brands.mindful.query")
    assert problem.message == f"the YAML tag '{tag}' is not allowed"


def test_tags_on_keys_and_in_lists_and_at_the_root(tmp_path):
    _, found = problems(tmp_path, MINI + "listeners:\n  reddit:\n    subreddits:\n      - all\n      - !!python/name:os.system\n")
    assert [(p.line, p.col, p.path) for p in found] == [(8, 9, "listeners.reddit.subreddits[1]")]
    _, found = problems(tmp_path, MINI + "? !!python/name:os.system\n: 1\n")
    assert [(p.line, p.col) for p in found] == [(4, 3)]
    _, found = problems(tmp_path, "--- !!omap\n- brands: {}\n")
    assert [(p.line, p.col, p.message) for p in found] == [(1, 5, "the YAML tag '!!omap' is not allowed")]


def test_every_bad_tag_is_reported(tmp_path):
    _, found = problems(tmp_path, "brands:\n  a:\n    query: !x a\n  b:\n    query: !y b\n")
    assert [(p.line, p.message) for p in found] == [(3, "the YAML tag '!x' is not allowed"),
                                                   (5, "the YAML tag '!y' is not allowed")]


def test_standard_str_tag_is_plain_yaml(tmp_path):
    config = load_config(write(tmp_path, MINI + "evaluate_every: !!str 10m\n"))
    assert config.evaluate_every == timedelta(minutes=10)
    # ... and positions after an unwrapped !!str value are still right
    path, problem = only(tmp_path, MINI + "evaluate_every: !!str 10m\nevry: 1\n")
    assert (problem.line, problem.col) == (5, 1)


@pytest.mark.parametrize("text, message", [
    ("", "the file is empty"),
    ("# only a comment\n", "the file is empty"),
    ("- brands\n- listeners\n", "config.yaml must be a mapping of keys, not a list"),
    ("brands\n", "config.yaml must be a mapping of keys, not a single value"),
])
def test_the_file_must_be_a_mapping(tmp_path, text, message):
    path, problem = only(tmp_path, text)
    assert str(problem) == f"{path}:1:1: {message} (start from the shipped config.yaml)"


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.yaml")
    (problem,) = caught.value.problems
    assert problem.message.startswith("cannot read the file")


# --- all at once, and warnings -----------------------------------------------------------------------------

def test_several_errors_are_all_reported_top_to_bottom(tmp_path):
    text = SHIPPED
    text = edit(text, "evaluate_every: 5m ", "evaluate_every: 5 minutes ")
    text = edit(text, "kind: competitor\n    query: theranow", "kind: rival\n    query: theranow OR")
    text = edit(text, "    every: 5m\n    bearer_token", "    evry: 5m\n    bearer_token")
    text = edit(text, "  youtube:", "  youtub:")
    text = edit(text, "scorer: harkbot ", "scorer: vadr ")
    text = edit(text, "default_channel: alerts", "default_channel: alert")
    text += "extra: 1\n"
    path, found = problems(tmp_path, text)
    assert [p.path for p in found] == [
        "evaluate_every", "brands.theranow.kind", "brands.theranow.query", "listeners.twitter.evry",
        "listeners.youtub", "sentiment.scorer", "slack.default_channel", "extra"]
    assert [p.line for p in found] == sorted(p.line for p in found)
    assert all(p.file == str(path) and p.line > 0 and p.col > 0 for p in found)
    assert all(p.severity == "error" for p in found)


def test_config_error_message_lists_every_problem(tmp_path):
    path = write(tmp_path, MINI + "evry: 1\nzzz: 2\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).splitlines() == [str(p) for p in caught.value.problems]
    assert len(caught.value.problems) == 2


def test_a_literal_slack_token_is_a_warning_naming_the_variable(tmp_path):
    text = edit(SHIPPED, "token: ${SLACK_BOT_TOKEN}", "token: xoxb-1234-abcd")
    config = load_config(write(tmp_path, text))  # loads: a warning, not an error
    (warning,) = config.warnings
    line, col = where(text, "xoxb-1234-abcd")
    assert warning.severity == "warning"
    assert (warning.line, warning.col, warning.path) == (line, col, "slack.token")
    assert warning.hint == "write ${SLACK_BOT_TOKEN} and set it in the environment"
    assert str(warning).endswith("[warning]")
    assert "xoxb-1234-abcd" not in str(warning)  # the warning does not repeat the secret


def test_a_literal_listener_secret_is_a_warning_naming_its_variable(tmp_path):
    text = edit(SHIPPED, "bearer_token: ${X_BEARER_TOKEN}", "bearer_token: AAAA-literal")
    config = load_config(write(tmp_path, text))
    (warning,) = config.warnings
    assert warning.path == "listeners.twitter.bearer_token"
    assert warning.hint == "write it as ${X_BEARER_TOKEN} and set that in the environment"


def test_non_secret_listener_options_do_not_warn(tmp_path):
    config = load_config(write(tmp_path, MINI + "listeners:\n  reddit:\n    user_agent: acme/1.0\n"))
    assert config.warnings == ()


# --- yamlsrc helpers ------------------------------------------------------------------------------------------

def test_suggest():
    assert suggest("evry", ["every", "enabled"]) == "did you mean 'every'?"
    assert suggest("zzz", ["b", "a"]) == "expected one of: a, b"
    assert suggest("zzz", []) == ""


def test_dotted():
    assert dotted(("listeners", "twitter", "every")) == "listeners.twitter.every"
    assert dotted((0, "volume_spike", "factor")) == "[0].volume_spike.factor"
    assert dotted(("brands", "a", "tags", 2)) == "brands.a.tags[2]"
    assert dotted(()) == ""


def test_positions_of_keys_values_and_missing_paths(tmp_path):
    source, found = load(write(tmp_path, "# head\na:\n  b: [x, y]\n  c: 1\n"))
    assert found == [] and isinstance(source, Source)
    assert source.position(("a", "b", 1)) == (3, 10)
    assert source.position(("a", "c")) == (4, 6)
    assert source.position(("a", "c"), key=True) == (4, 3)
    assert source.position(("a", "nope")) == (3, 3)  # the deepest node that exists
    assert source.position(()) == (2, 1)  # the root starts after the comment


def test_value_position_counts_characters_of_the_value(tmp_path):
    source, _ = load(write(tmp_path, "p: plain text\nq: 'it''s here'\nd: \"a\\tb c\"\nb: >-\n  one\n  two\n"))
    assert source.value_position(("p",), 6) == (1, 10)
    assert source.value_position(("q",), 5) == (2, 11)  # after it's: the '' was two characters
    assert source.value_position(("d",), 4) == (3, 10)  # after a<tab>b and the space
    assert source.value_position(("b",), 4) == (6, 3)  # "one two": offset 4 is the t of "two"
