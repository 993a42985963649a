"""tools/train_sentiment.py --labels: the team's corrections, as `harkbot labels export
--with-text` writes them, become one more training set; a file without text is refused."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def trainer():
    spec = importlib.util.spec_from_file_location("train_sentiment", ROOT / "tools" / "train_sentiment.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_exported_corrections_read_as_a_labelled_set(tmp_path):
    csv_file = tmp_path / "labels.csv"
    csv_file.write_text("mention_key,label,previous,scorer,actor,at,title,text\n"
                        "x:1,negative,positive,harkbot,ana,2026-12-08T01:00:00Z,,thanks for nothing mindful\n"
                        "reddit:t3_a,neutral,negative,harkbot,ana,2026-12-08T01:00:00Z,Side effects?,what are yours\n",
                        encoding="utf-8")
    jsonl = tmp_path / "more.jsonl"
    jsonl.write_text(json.dumps({"mention_key": "x:2", "label": "positive", "text": "love it"}) + "\n", encoding="utf-8")
    team = trainer().team_labels([csv_file, jsonl])
    assert team.key == "team"
    assert [(e.text, e.gold) for e in team.examples] == [
        ("thanks for nothing mindful", "negative"), ("Side effects?\nwhat are yours", "neutral"), ("love it", "positive")]


def test_an_export_without_text_or_with_a_bad_label_is_refused_by_line(tmp_path):
    bare = tmp_path / "bare.csv"
    bare.write_text("mention_key,label,previous,scorer,actor,at\nx:1,negative,positive,harkbot,ana,2026\n",
                    encoding="utf-8")
    with pytest.raises(SystemExit, match=r"bare.csv:1: no text; export with `harkbot labels export --with-text`"):
        trainer().team_labels([bare])
    odd = tmp_path / "odd.jsonl"
    odd.write_text(json.dumps({"label": "angry", "text": "x"}) + "\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="odd.jsonl:1: label 'angry' is not one of negative, neutral, positive"):
        trainer().team_labels([odd])
