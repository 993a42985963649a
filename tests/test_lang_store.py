"""The language of each mention (#18): resolved at ingest (bot.lang.resolve, the platform's tag
weighed in), stored in `lang` on both backends (ingest, bulk ingest, the migration from version
8), and read back by `--lang` in search, stats and export, and by the per-language share."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import timedelta

import pytest
from click.testing import CliRunner

from bot import history
from bot.cli import main
from bot.history import BrandInfo, Filters
from bot.lang import OVERRULE, UNDETERMINED, platform_code, resolve
from bot.pipeline import prepare
from bot.sentiment import make_scorer
from bot.store import pg_schema
from bot.store import sqlite as sqlite_backend
from tests.backends import backend, dsn_of, make_store, sql, store  # noqa: F401 - fixtures
from tests.helpers import T0, brand, mention

# One post per language the sentiment scorers cover (the UMSAB languages and English), each
# naming the brand so that it is stored.
TEXTS = {
    "en": "Mindful Health charged me twice this month and support never answered",
    "es": "Mindful Health me cobró dos veces este mes, qué vergüenza de servicio",
    "fr": "Mindful Health est vraiment nul, je suis très déçu du service client",
    "de": "Ich liebe Mindful Health, die Therapeutin hört wirklich zu und hilft mir",
    "it": "Mindful Health è fantastico, lo consiglio a tutti i miei amici",
    "pt": "A Mindful Health é ótima, recomendo para todos os meus amigos",
    "hi": "Mindful Health बहुत अच्छा है, मैं सबको इसकी सलाह देता हूँ",
    "ar": "تطبيق Mindful Health رائع جدا وأنصح به كل أصدقائي",
}
BRANDS = {"mindful": brand()}
SCORER = make_scorer("harkbot")
END = T0 + timedelta(days=1)


def ingest(store, mentions):
    scored = prepare(mentions, BRANDS, SCORER, store)
    store.ingest("test", scored, None, T0)
    return scored


def stored_langs(store) -> dict[str, tuple]:
    return {key: (lang, conf) for key, lang, conf in sql(store, "SELECT key, lang, lang_confidence FROM mentions")}


def seed(store) -> dict[str, str]:
    """The eight languages (two Spanish posts), an emoji-only post and one stored with X's tag."""
    posts = [mention(i, text) for i, text in enumerate(TEXTS.values())]
    posts.append(mention(20, "Mindful Health me ayudó mucho con la ansiedad, gracias de verdad"))
    posts.append(mention(21, "😍😍😍 #MindfulHealth"))
    ingest(store, posts)
    return {**{f"x:{i}": code for i, code in enumerate(TEXTS)}, "x:20": "es", "x:21": UNDETERMINED}


# -- the rule ------------------------------------------------------------------------------------


def test_platform_tags_become_iso_codes():
    assert [platform_code(t) for t in ("en-US", "pt_BR", "EN", "iw", "in", "zh-Hant", "fil")] == \
        ["en", "pt", "en", "he", "id", "zh", "fil"]
    assert [platform_code(t) for t in (None, "", "und", "qme", "zxx", "en1", "english")] == [None] * 7


def test_the_platform_tag_is_kept_unless_the_detector_is_sure_of_another_language():
    spanish = TEXTS["es"]
    lang, confidence = resolve(spanish, "es")  # agree: the tag, with the detector's confidence
    assert lang == "es" and confidence is not None and confidence >= OVERRULE
    assert resolve(spanish, "en")[0] == "es"  # a client's default tag, overruled
    assert resolve(spanish, "es-MX")[0] == "es"
    assert resolve("ok gracias", "en") == ("en", None)  # too unsure to overrule: the platform's word
    assert resolve("Mindful Health", "pt") == ("pt", None)
    assert resolve(spanish, "qme")[0] == "es"  # X's "no language" tags are no tag
    assert resolve("😡😡😡", "en") == (UNDETERMINED, 0.0)  # no letters: no language, whatever the tag
    assert resolve("😡😡😡") == (UNDETERMINED, 0.0)
    assert resolve(spanish, "en", "x") == ("en", None)  # X's tag is its own classifier's: taken, not checked
    assert resolve(spanish, "en", "mastodon")[0] == "es"  # a client's setting is checked
    assert resolve(spanish, "und", "x")[0] == "es"  # X saying it cannot tell: detected


# -- ingest --------------------------------------------------------------------------------------


def test_ingest_detects_and_stores_the_language_of_each_mention(store):
    expected = seed(store)
    found = stored_langs(store)
    assert {key: lang for key, (lang, _c) in found.items()} == expected
    for key, (lang, confidence) in found.items():
        if lang != UNDETERMINED:
            assert confidence >= 0.5, key
    language = sql(store, "SELECT language FROM mentions WHERE key = 'x:0'")[0][0]
    assert language is None  # the platform's own column is untouched


def test_the_platform_tag_is_stored_beside_the_language_harkbot_chose(store):
    told = [replace(mention(1, TEXTS["es"], platform="mastodon"), language="en"),  # a UI language: overruled
            replace(mention(2, "Mindful Health ok", platform="mastodon"), language="pt-BR"),  # too short: the tag
            replace(mention(3, TEXTS["fr"], platform="rss"), language="fr"),
            replace(mention(4, TEXTS["it"]), language="en"),  # X's own classifier: taken as it is
            replace(mention(5, TEXTS["it"]), language="und")]  # X could not tell: detected
    ingest(store, told)
    rows = {k: (lang, conf is None, language) for k, lang, conf, language in
            sql(store, "SELECT key, lang, lang_confidence, language FROM mentions")}
    assert rows == {"mastodon:1": ("es", False, "en"), "mastodon:2": ("pt", True, "pt-BR"), "rss:3": ("fr", False, "fr"),
                    "x:4": ("en", True, "en"), "x:5": ("it", False, "und")}


def test_bulk_ingest_writes_the_language_too(store):
    scored = prepare([mention(1, TEXTS["de"]), mention(2, TEXTS["it"])], BRANDS, SCORER, store)
    assert store.bulk_ingest("bench", scored, T0) == 2
    assert {k: v[0] for k, v in stored_langs(store).items()} == {"x:1": "de", "x:2": "it"}
    assert {sm.mention.lang for sm in store.recent()} == {"de", "it"}  # and reads it back


# -- the migration -------------------------------------------------------------------------------


def insert_version_8_mention(store, key: str, language: str | None, label: str = "neutral") -> None:
    """A mention row as schema version 8 stored it (no lang columns), with its brand link."""
    platform, native = key.split(":", 1)
    sql(store, "INSERT INTO mentions(key, platform, native_id, listener, kind, text, title, author, url, created_at,"
               " ingested_at, language, author_reach, engagement, metrics, label, polarity, scorer, terms, raw)"
               " VALUES (?, ?, ?, 'test', 'post', 'Mindful Health text', '', 'ann', '', ?, ?, ?, 1, 0, '{}', ?, 0.0,"
               " 'test', '[]', '{}')",
        (key, platform, native, "2026-03-02T00:05:00Z", "2026-03-02T00:05:00Z", language, label))
    sql(store, "INSERT INTO mention_brands(brand, created_at, mention_key, label, platform) VALUES"
               " ('mindful', ?, ?, ?, ?)", ("2026-03-02T00:05:00Z", key, label, platform))


def test_the_migration_from_version_8_keeps_the_data_and_backfills_from_platform_tags(make_store, backend,
                                                                                      monkeypatch, tmp_path):
    names = [m.__name__ for m in sqlite_backend.MIGRATIONS]
    assert names == [m.__name__ for m in pg_schema.MIGRATIONS]  # the same steps on both
    assert names[8] == "_migration_lang" and len(names) >= 9
    monkeypatch.setattr(sqlite_backend, "SCHEMA_VERSION", 8)
    monkeypatch.setattr(pg_schema, "SCHEMA_VERSION", 8)
    old = make_store(tmp_path / "old.db")
    assert old.version == 8
    tags = {"x:1": "en-US", "x:2": "pt_BR", "x:3": "und", "x:4": None, "mastodon:5": "de", "x:6": "en-US"}
    for key, tag in tags.items():
        insert_version_8_mention(old, key, tag)
    where = dsn_of(old)
    old.close()
    monkeypatch.undo()
    from bot.store import open_store

    new = open_store(str(where))
    try:
        assert new.version == len(names)
        [step] = [s for s in new._migrated if s.startswith("9: _migration_lang")]
        assert "for 4 stored mentions; 2 left unknown (NULL" in step  # und and no tag: unknown
        assert {k: v[0] for k, v in stored_langs(new).items()} == {
            "x:1": "en", "x:2": "pt", "x:3": None, "x:4": None, "mastodon:5": "de", "x:6": "en"}
        assert all(conf is None for _lang, conf in stored_langs(new).values())  # the platform's word
        assert {k: v for k, v in sql(new, "SELECT key, language FROM mentions")} == tags  # kept as it was
        assert new.count("mention_brands") == 6
        ingest(new, [mention(7, TEXTS["it"])])  # and the migrated store ingests with the language
        assert stored_langs(new)["x:7"][0] == "it"
        rows = history.search(new, Filters(langs=("en",)), limit=10)
        assert sorted(h.row.key for h in rows) == ["x:1", "x:6"]
    finally:
        new.close()


def test_harkbot_migrate_says_what_the_language_step_did(tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_backend, "SCHEMA_VERSION", 8)
    path = tmp_path / "old.db"
    old = sqlite_backend.SQLiteStore(path)
    insert_version_8_mention(old, "x:1", "es")
    old.close()
    monkeypatch.undo()
    result = CliRunner().invoke(main, ["--config", "nowhere.yaml", "migrate", "--db", str(path)],
                                env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert "9: _migration_lang (lang set from the platform's language tag for 1 stored mentions; 0 left unknown" \
        in " ".join(result.output.split())


# -- reading it back -----------------------------------------------------------------------------


def test_lang_filters_search_export_and_count_the_same_rows(store):
    expected = seed(store)
    spanish = sorted(k for k, code in expected.items() if code == "es")
    assert spanish == ["x:1", "x:20"]
    assert sorted(h.row.key for h in history.search(store, Filters(langs=("es",)))) == spanish
    assert sorted(h.row.key for h in history.search(store, Filters(query="mindful", langs=("es", "fr")))) == \
        ["x:1", "x:2", "x:20"]
    rows = [r for chunk in history.iter_rows(store, Filters(langs=("hi", "ar"))) for r in chunk]
    assert [(r.key, r.lang) for r in rows] == [("x:6", "hi"), ("x:7", "ar")]
    assert rows[0].lang_confidence is not None and rows[0].language is None
    assert history.count_rows(store, Filters(langs=("es",))) == 2
    assert history.count_rows(store, Filters(langs=(UNDETERMINED,))) == 1
    assert history.count_rows(store, Filters(langs=("ja",))) == 0


def test_stats_share_per_language_and_stats_in_one_language(store):
    expected = seed(store)
    info = [BrandInfo("mindful", "Mindful Health", "brand")]
    whole = history.stats(store, info, T0, END, every="day")
    [s] = whole.brands
    assert s.total.count == len(expected) == 10
    share = {lang: (mix.count, round(part, 4)) for lang, mix, part in s.language_share()}
    assert share["es"] == (2, 0.2) and share["und"] == (1, 0.1) and share["hi"] == (1, 0.1)
    assert s.languages[0][0] == "es"  # largest first
    assert sum(mix.count for _l, mix in s.languages) == s.total.count
    doc = whole.as_dict()["brands"][0]["languages"]
    assert doc[0]["lang"] == "es" and doc[0]["mentions"] == 2 and doc[0]["share"] == 0.2
    spanish = history.stats(store, info, T0, END, every="day", langs=("es",))
    [es] = spanish.brands
    assert es.total.count == 2 and [p.mix.count for p in es.periods] == [2]
    assert [lang for lang, _mix in es.languages] == ["es"] and es.platforms[0][1].count == 2
    assert es.total.negative + es.total.positive + es.total.neutral == 2
    assert es.sample == 2  # the top terms read the Spanish texts only
    assert dict(es.top_terms).keys() & {"ansiedad", "cobró", "vergüenza"}


@pytest.fixture
def file_store(make_store, backend, tmp_path):
    return make_store(tmp_path / "lang.db")


def run(*args: str):
    return CliRunner().invoke(main, ["--config", "nowhere.yaml", *args], env={"COLUMNS": "200"},
                              catch_exceptions=False)


def test_search_stats_and_export_take_lang_on_both_backends(file_store, tmp_path):
    seed(file_store)
    db = dsn_of(file_store)
    found = run("search", "--db", db, "--lang", "ES", "--json")
    assert found.exit_code == 0, found.output
    rows = [json.loads(line) for line in found.output.splitlines()]
    assert [(r["key"], r["lang"]) for r in rows] == [("x:20", "es"), ("x:1", "es")]
    table = run("search", "--db", db, "--lang", "hi")
    assert "x" in table.output and " hi " in table.output
    out = tmp_path / "fr.jsonl"
    export = run("export", "--db", db, "--lang", "fr", "--lang", "pt-BR", "--out", str(out))
    assert export.exit_code == 0, export.output
    assert [json.loads(line)["key"] for line in out.read_text().splitlines()] == ["x:2", "x:5"]
    bad = run("search", "--db", db, "--lang", "español")
    assert bad.exit_code == 2 and "not a language code" in bad.output
    since, until = "2026-03-02", "2026-03-03"
    doc = json.loads(run("stats", "--db", db, "--since", since, "--until", until, "--json", "--lang", "es").output)
    assert doc["brands"][0]["mentions"] == 2 and doc["brands"][0]["languages"][0]["lang"] == "es"
    rows = list(csv.DictReader(io.StringIO(run("stats", "--db", db, "--since", since, "--until", until,
                                               "--csv").output)))
    periods = [r for r in rows if r["period_start"]]
    langs = {r["lang"]: (r["mentions"], r["lang_share"]) for r in rows if not r["period_start"]}
    assert [r["mentions"] for r in periods] == ["10"] and langs["es"] == ("2", "0.2") and langs["und"] == ("1", "0.1")
    text = run("stats", "--db", db, "--since", since, "--until", until).output
    assert "languages (of the mentions still stored)" in text and "20%" in text


def test_the_report_shows_each_brands_languages(store):
    from bot.report import build_report

    seed(store)
    info = [BrandInfo("mindful", "Mindful Health", "brand")]
    html = build_report(store, info, T0, END, every="day", versus=info, top=3, generated=END).html
    languages = html[html.index("<h2>Languages</h2>"):html.index("<h2>Top terms")]
    assert "Mindful Health" in languages and "es 20% (2)" in languages and "und 10% (1)" in languages
