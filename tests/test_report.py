"""harkbot report: a self-contained HTML file with real PNG charts; hostile posts stay text;
the same report from a SQLite file and a PostgreSQL schema."""

from __future__ import annotations

import base64
import re
import shutil
from datetime import timedelta

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.report import build_report
from bot.store import open_store
from tests.backends import backend, make_store, sql  # noqa: F401 - fixtures
from tests.helpers import T0
from tests.test_history import BRANDS, history_db  # noqa: F401 - fixtures

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def db(history_db):
    store = open_store(history_db)
    sql(store, "INSERT INTO alerts(fingerprint, rule, brand, kind, severity, channel, state, fired_at, payload) VALUES"
               " ('f', 'crisis <b>', 'mindful', 'volume_spike', 'critical', 'alerts', 'firing', '2026-03-03T01:10:00Z',"
               " '{\"finding\": {\"title\": \"Spike: <img src=x onerror=alert(1)>\"}}')")
    store.close()
    return history_db


def test_build_report_escapes_every_post_and_embeds_pngs(db):
    store = open_store(db)
    report = build_report(store, BRANDS, T0, T0 + timedelta(days=3), every="hour", versus=BRANDS, top=5,
                          generated=T0 + timedelta(days=3))
    store.close()
    page = report.html
    assert [c.filename for c in report.charts] == ["volume.png", "sentiment.png", "share_of_voice.png"]
    assert all(c.png.startswith(PNG) and len(c.png) > 5_000 for c in report.charts)
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(uris) == 3 and all(base64.b64decode(u).startswith(PNG) for u in uris)
    # the hostile post is quoted (it has the largest reach) and arrives as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &lt;!channel&gt; Mindful Health refund scam" in page
    assert "<script" not in page.lower() and "<!channel>" not in page and "<img src=x" not in page
    assert "Spike: &lt;img src=x onerror=alert(1)&gt;" in page and "crisis &lt;b&gt;" in page  # the alerts table
    assert report.alerts[0].severity == "critical"
    assert [r.key for r in report.posts["mindful"]][:1] == ["youtube:4"]
    assert 'href="https://example.com/4"' in page


def test_a_link_that_is_not_http_is_not_a_link(make_store):
    from bot.models import Mention, Score, ScoredMention

    store = make_store()
    m = Mention(platform="x", id="1", text="Mindful Health", author="a", url="javascript:alert(1)", created_at=T0)
    store.ingest("t", [ScoredMention(m, ("mindful",), Score("neutral", 0.0, "t"))], None, T0)
    report = build_report(store, BRANDS[:1], T0, T0 + timedelta(hours=2), every="hour", versus=BRANDS[:1],
                          top=5, generated=T0)
    store.close()
    assert "javascript:" not in report.html


def test_report_command_writes_html_and_pngs(db, tmp_path, repo):
    shutil.copy(repo / "config.yaml", tmp_path / "config.yaml")
    out, pngs = tmp_path / "out" / "report.html", tmp_path / "png"
    result = CliRunner().invoke(main, ["--config", str(tmp_path / "config.yaml"), "report", "--db", db,
                                       "--since", "2026-03-02", "--until", "2026-03-05", "--out", str(out),
                                       "--png-dir", str(pngs)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert "Mindful Health" in page and "TheraNow" in page and "&lt;script&gt;" in page and "<script" not in page
    assert "2026-03-02 00:00 to 2026-03-05 00:00 UTC, by hour" in page  # 3 days: hourly
    files = sorted(p.name for p in pngs.iterdir())
    assert files == ["sentiment.png", "share_of_voice.png", "volume.png"]
    assert all((pngs / f).read_bytes().startswith(PNG) for f in files)
    assert "3 charts embedded" in result.output
