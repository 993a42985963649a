"""bench/selfharm.py reads any case file in the v2 format (the lead measures a v3 with it):
odd rows and unknown families are reported, never a crash."""

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _bench():
    spec = importlib.util.spec_from_file_location("harkbot_bench_selfharm", REPO / "bench" / "selfharm.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_case_file_with_bad_rows_and_a_new_family_is_scored_and_reported(tmp_path, capsys):
    bench = _bench()
    path = tmp_path / "v3.tsv"
    path.write_text("text\tlevel\tfamily\n"
                    "I want to die tonight\tintent\tbrand-new-family\n"
                    "a row without columns\n"
                    "lovely day at the park\tNONE\tordinary\n"
                    "what is this\tmaybe\tordinary\n", encoding="utf-8")
    problems: list[str] = []
    rows = bench.load_cases(path, problems)
    assert rows == [("I want to die tonight", "intent", "brand-new-family"),
                    ("lovely day at the park", "none", "ordinary")]
    assert [p.split(":")[:2] for p in problems] == [["v3.tsv", "3"], ["v3.tsv", "5"]]
    bench.evaluate_case_file(path, "a test file", [])
    out = capsys.readouterr().out
    assert "brand-new-family" in out and "families not in v1 or v2" in out
    assert "all positives" in out


def test_the_shipped_case_files_load_whole():
    bench = _bench()
    for path in (REPO / "bench" / "data" / "selfharm_cases_v2.tsv", bench.CASES):
        problems: list[str] = []
        assert len(bench.load_cases(path, problems)) > 150 and problems == []
