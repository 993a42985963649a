"""The per-language sentiment models (bot/sentiment_multi.py) and their trainer
(tools/train_sentiment.py --umsab). Nothing here reads ../shared: the shipped model files and
sentences written for this test only."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.models import LABELS
from bot.sentiment import SCORERS, HarkbotScorer, make_scorer
from bot.sentiment_multi import (LANGUAGES, MIN_CV, UNKNOWN, MultiScorer, Spec, available, base_language, features,
                                 load_model, model_path, served, tokens)

REPO = Path(__file__).resolve().parent.parent


def _trainer():
    spec = importlib.util.spec_from_file_location("train_sentiment", REPO / "tools" / "train_sentiment.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def multi():
    return MultiScorer()


# --------------------------------------------------------------------------- the shipped files


@pytest.mark.parametrize("lang", sorted(LANGUAGES))
def test_each_language_model_ships_loads_and_is_small(lang):
    path = model_path(lang)
    assert path.is_file(), f"{path} missing: run tools/train_sentiment.py --umsab {lang}"
    assert path.stat().st_size < 2_000_000
    model = load_model(path)
    assert model.lang == lang and model.name == f"harkbot-{lang}/1"
    assert len(model.weights) > 1000 and "bias" in model.weights
    assert all(len(row) == 3 and all(math.isfinite(v) for v in row) for row in model.weights.values())


def test_available_lists_all_seven_and_serves_those_that_beat_chance_clearly():
    assert available() == tuple(sorted(LANGUAGES))
    assert served() == ("ar", "de", "es", "fr", "it", "pt")
    assert all(load_model(model_path(lang)).cv >= MIN_CV for lang in served())
    assert load_model(model_path("hi")).cv < MIN_CV  # romanised Hinglish: the model barely beats chance


def test_a_model_below_the_bar_gives_unknown_unless_asked_for(multi):
    text = "bakwas service, worst experience, bahut bura laga"
    assert multi.score(text, lang="hi-IN") == multi.score(text, lang="hi")
    s = multi.score(text, lang="hi")
    assert (s.label, s.scorer) == (UNKNOWN, "none-hi")
    asked = MultiScorer(languages=["hi"]).score(text, lang="hi")
    assert asked.scorer == "harkbot-hi/1" and asked.label in LABELS


# --------------------------------------------------------------------------- scoring

# Written for this test (never from UMSAB): plain, unmistakable sentences, two each way.
KNOWN = {
    "es": (["Me encanta este producto, es genial y funciona de maravilla",
            "Gracias por la ayuda, el servicio fue excelente 😍"],
           ["El servicio es horrible, estoy harto de esperar",
            "Qué asco, la peor compra de mi vida, odio esta empresa"]),
    "pt": (["Adorei o atendimento, vocês são maravilhosos, obrigado!",
            "Que dia lindo, estou muito feliz com o resultado 😍"],
           ["Péssimo atendimento, odeio essa empresa, que raiva",
            "Horrível, pior serviço do mundo, nunca mais compro"]),
    "fr": (["J'adore ce produit, il est génial, merci beaucoup !",
            "Super journée, je suis tellement heureux 😍"],
           ["Service nul, c'est honteux, je déteste cette entreprise",
            "Horrible, la pire expérience de ma vie, quelle honte"]),
    "de": (["Ich liebe dieses Produkt, einfach super und toll, danke!",
            "Was für ein schöner Tag, ich bin so glücklich 😍"],
           ["Der Service ist scheiße, ich hasse diese Firma",
            "Schrecklich, das schlimmste Erlebnis überhaupt, so eine Katastrophe"]),
    "it": (["Adoro questo prodotto, è fantastico, grazie mille!",
            "Che bella giornata, sono felicissimo 😍"],
           ["Servizio pessimo, che schifo, odio questa azienda",
            "Orribile, la peggiore esperienza della mia vita, vergogna"]),
    "ar": (["أحب هذا المنتج، رائع جدا وشكرا لكم",
            "يوم جميل، أنا سعيد جدا الحمد لله 😍"],
           ["خدمة سيئة جدا، أكره هذه الشركة",
            "للأسف أسوأ تجربة في حياتي، خدمة زفت"]),
}


@pytest.mark.parametrize("lang", sorted(KNOWN))
def test_plain_sentences_land_on_their_side(multi, lang):
    positive, negative = KNOWN[lang]
    for text in positive:
        s = multi.score(text, lang=lang)
        assert s.label == "positive" and s.polarity > 0, (text, s)
    for text in negative:
        s = multi.score(text, lang=lang)
        assert s.label == "negative" and s.polarity < 0, (text, s)


@pytest.mark.xfail(strict=True, reason="a known miss: 'الله' (God) leans positive in the Arabic training tweets "
                                       "(praise), so the grievance 'حسبي الله' reads positive; strict: passing means "
                                       "the model changed, and this mark should go")
def test_known_miss_arabic_grievance_idiom(multi):
    assert multi.score("للأسف أسوأ تجربة في حياتي، حسبي الله", lang="ar").label == "negative"


@pytest.mark.parametrize("lang", sorted(KNOWN))
def test_the_score_names_its_language_and_the_words_that_drove_it(multi, lang):
    text = KNOWN[lang][1][0]
    s = multi.score(text, lang=lang)
    assert s.scorer == f"harkbot-{lang}/1"
    assert s.terms, s
    words = " ".join(tokens(text))
    assert all(all(part in words for part in term.split(" ")) for term in s.terms), (s.terms, words)


@pytest.mark.parametrize("lang, text", [
    ("es", "Me encanta este producto, es genial y funciona de maravilla"),
    ("pt", "Péssimo atendimento, odeio essa empresa, que raiva"),
    ("de", "Ich liebe dieses Produkt, einfach super und toll, danke!"),
    ("fr", "Service nul, c'est honteux, je déteste cette entreprise"),
])
def test_detected_language_picks_its_model(multi, lang, text):
    code, s = multi.score_lang(text)
    assert code == lang and s.scorer == f"harkbot-{lang}/1"
    assert s == multi.score(text, lang=lang)


def test_english_goes_to_harkbot_unchanged(multi):
    text = "The app is lovely but support never answered my refund request, awful"
    assert multi.score(text) == HarkbotScorer().score(text)
    assert multi.score(text, lang="en-GB") == HarkbotScorer().score(text)
    assert multi.score("😍😍😍").scorer == "harkbot"  # no words: language-free, harkbot reads emoji


@pytest.mark.parametrize("text, lang, code", [
    ("Ez a termék nagyon jó, imádom", "hu", "hu"),
    ("これはとても良い製品です。大好き！", None, "ja"),
    ("Этот сервис просто ужасен, ненавижу", None, "ru"),
])
def test_a_language_without_a_model_is_unknown_never_a_guess(multi, text, lang, code):
    read, s = multi.score_lang(text, lang)
    assert read == code
    assert s.label == UNKNOWN and UNKNOWN not in LABELS
    assert s.polarity == 0.0 and s.terms == () and s.scorer == f"none-{code}"


def test_language_codes_are_read_leniently():
    assert [base_language(c) for c in ("pt-BR", "ES", "auto", None, "", "zh_Hant")] == ["pt", "es", None, None,
                                                                                          None, "zh"]


def test_registered_and_made_like_any_scorer():
    assert SCORERS["harkbot-multi"] is MultiScorer
    scorer = make_scorer("harkbot-multi", positive_above=0.9)
    assert scorer.english.thresholds.positive_above == 0.9
    assert scorer.score("Qué asco, la peor compra de mi vida", lang="es").label == "negative"


@pytest.mark.parametrize("text", ["Mind\u200bful İstanbul ÉCOLE e\u200b\u0301", "ﬁne ＦＵＬＬ ½ Straße", "plain ascii",
                                  "हिन्दी\u200d नमस्ते", "مَرْحَبًا\u061c", "👍🏽\ufe0f"])
def test_the_fast_fold_is_bot_text_fold(text):
    from bot.sentiment_multi import _folded
    from bot.text import folded_of

    assert _folded(text) == folded_of(text)


def test_tokens_drop_links_handles_and_fold_what_varies():
    assert tokens("@user RT Buenooooo!!! http://t.co/x #Feliz :) 2019") == ["rt", "buenoo", "!", "!", "!", "feliz",
                                                                            ":)"]
    assert tokens("أحبّ المنتجـــات") == tokens("احب المنتجات")  # diacritic, tatweel and alef variants folded
    assert tokens("बहुत अच्छा") == ["बहुत", "अच्छा"]  # vowel signs kept inside the word


# --------------------------------------------------------------------------- the fast path is the definition


def _synthetic_corpus():
    good = "love great happy wonderful amazing best thanks".split()
    bad = "hate awful terrible worst angry sad broken".split()
    flat = "table monday train report meeting paper window".split()
    texts, labels = [], []
    for i in range(90):
        for label, words in ((2, good), (0, bad), (1, flat)):
            a, b, c = words[i % 7], words[(i * 3 + 1) % 7], flat[(i * 5 + 2) % 7]
            neg = " no " + good[(i + 2) % 7] if label == 0 and i % 3 == 0 else ""
            texts.append(f"the {c} was {a}, really {b}{neg} {'😍' if label == 2 and i % 4 == 0 else ''}")
            labels.append(label)
    return texts, labels


def test_training_is_deterministic_and_learns_the_synthetic_corpus(tmp_path):
    ts = _trainer()
    texts, labels = _synthetic_corpus()
    spec = Spec(char=(2, 4), english=True, seeds=True)
    first = ts.umsab_train(texts, labels, "es", spec, 1e-3)
    second = ts.umsab_train(list(texts), list(labels), "es", spec, 1e-3)
    assert first == second
    paths = []
    for n, weights in enumerate((first, second)):
        paths.append(tmp_path / f"{n}" / "sentiment_es.tsv")
        paths[-1].parent.mkdir()
        ts.umsab_write(paths[-1], "es", weights, spec, 1e-3, {("words+chars 2-4+English valence+seeds", 1e-3): 1.0},
                       len(texts))
    assert paths[0].read_bytes() == paths[1].read_bytes()
    scorer = MultiScorer(folder=paths[0].parent, languages=["es"])
    assert scorer.score("what a wonderful day, thanks", lang="es").label == "positive"
    assert scorer.score("broken and awful", lang="es").label == "negative"
    assert scorer.score("monday meeting report", lang="es").label == "neutral"


@pytest.mark.parametrize("lang", ["es", "ar", "de"])
def test_the_fast_sums_equal_the_reference_features(lang):
    """LangModel.logits (cached per token) against features() dotted with the weights."""
    model = load_model(model_path(lang))
    texts = [*KNOWN[lang][0], *KNOWN[lang][1], "no no no es bueno. pero, nada!! ?? :( 😡😡 @x http://y.z #Tag",
             "", "!!!", "ok"]
    for text in texts:
        toks = tokens(text)
        want = list(model.bias)
        for name, value in features(toks, lang, model.spec).items():
            row = model.weights.get(name)
            if row:
                for j in range(3):
                    want[j] += row[j] * value
        got, _parts, _scales = model.logits(toks)
        assert all(abs(a - b) < 1e-9 for a, b in zip(want, got)), (text, want, got)


# --------------------------------------------------------------------------- the command


def _score(*args: str, input: str):
    result = CliRunner().invoke(main, ["score", *args], input=input, catch_exceptions=False)
    return result, [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]


def test_score_command_with_lang():
    result, rows = _score("--lang", "es", input="Qué asco, la peor compra de mi vida\nMe encanta, es genial\n")
    assert result.exit_code == 0, result.output
    assert [(r["label"], r["scorer"], r["lang"]) for r in rows] == [
        ("negative", "harkbot-es/1", "es"), ("positive", "harkbot-es/1", "es")]
    _result, rows = _score("--lang", "auto", input="Ich hasse diese Firma, der Service ist scheiße\n"
                                                   "I love this, it is wonderful\nEz nagyon rossz, utálom\n")
    assert [(r["scorer"], r["lang"]) for r in rows] == [("harkbot-de/1", "de"), ("harkbot", "en"), ("none-hu", "hu")]
    assert rows[2]["label"] == "unknown"
    _result, rows = _score("--scorer", "vader", "--lang", "auto", input="I love this, it is wonderful\n")
    assert rows[0]["scorer"] == "vader"


def test_score_command_without_lang_is_as_before():
    _result, rows = _score(input="I love it\n")
    assert rows == [{k: v for k, v in rows[0].items()}] and "lang" not in rows[0] and rows[0]["scorer"] == "harkbot"


def test_score_command_refuses_a_malformed_lang():
    result = CliRunner().invoke(main, ["score", "--lang", "spanish!"], input="hola\n")
    assert result.exit_code == 2 and "--lang 'spanish!'" in result.output


def test_ingest_hands_the_resolved_language_to_a_multilingual_scorer():
    """prepare_one resolves the language once and the scorer uses it: a Spanish post is scored
    by the Spanish model, an English one by the English scorer."""
    from datetime import datetime, timezone

    from bot.intake import Intake
    from bot.models import Brand, Mention
    from bot.pipeline import prepare_one
    from bot.query import parse
    from bot.sentiment import make_scorer

    brands = {"mindful": Brand("mindful", "Mindful Health", "brand", parse('"mindful health"'))}
    scorer = make_scorer("harkbot-multi")
    at = datetime(2026, 12, 1, tzinfo=timezone.utc)

    def scored(text: str):
        raw = Mention(platform="x", id=str(abs(hash(text))), text=text, author="a", url="https://x.com/a/status/1",
                      created_at=at)
        return prepare_one(raw, brands, scorer, Intake())

    es = scored("Mindful Health es horrible, me cobraron dos veces y nadie responde")
    en = scored("Mindful Health charged me twice and nobody answers")
    assert es.mention.lang == "es" and es.score.scorer.startswith("harkbot-es")
    assert en.mention.lang == "en" and en.score.scorer == "harkbot"


def test_score_names_the_weights_that_made_each_score_and_an_untold_language_is_english():
    _result, rows = _score("--lang", "auto", input="I love it\nQué asco, la peor compra de mi vida\n")
    assert rows[0]["scorer"] == "harkbot" and rows[0]["lang"] == "en"  # too short to tell: English, not unknown
    assert rows[0]["version"].startswith("weights.tsv@") and len(rows[0]["version"]) == len("weights.tsv@") + 12
    assert rows[1]["version"].startswith("sentiment_es.tsv@")
