"""`harkbot selfharm`: the self-harm detector on texts from stdin, one per line, one JSON object
per line out, so a person can check what it flags and why before trusting it.

    echo "i've been saving my pills" | harkbot selfharm
    {"level": "intent", "confidence": 0.9, "evidence": ["saving my pills"], "reason": "stockpiling pills",
     "source": "lexicon", "probability": 0.21, "routed": true}

`level` is intent, ideation, self-harm, risk or none (`none` also for a text with no flag at
all; `flagged` says which); `routed` is whether the default safety config alerts on it.
A line that the detector fails on prints `risk` with the error's type, as ingest would flag it.
"""

from __future__ import annotations

import json
import sys

import click


@click.command("selfharm")
@click.option("--lexicon-only", is_flag=True, help="The lexicon alone (no prefilter, no classifier)")
def selfharm_command(lexicon_only: bool) -> None:
    """Read texts from stdin (one per line) and print the self-harm flag of each as a JSON line."""
    from bot import selfharm

    detect = selfharm.assess_lexicon if lexicon_only else selfharm.assess
    for line in sys.stdin:
        text = line.rstrip("\r\n")
        try:
            flag = detect(text)
        except Exception as exc:  # noqa: BLE001 - as ingest: a failure is routed, never dropped
            flag = selfharm.SafetyFlag("risk", (), f"the detector failed ({type(exc).__name__})", 0.0, "error")
        if flag is None:
            out = {"level": "none", "confidence": 0.0, "evidence": [], "flagged": False, "routed": False}
        else:
            out = {"level": flag.level, "confidence": flag.confidence, "evidence": list(flag.evidence),
                   "reason": flag.reason, "source": flag.source, "probability": flag.probability,
                   "flagged": True, "routed": flag.level in selfharm.ROUTED}
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        sys.stdout.flush()


def register(main: click.Group) -> None:
    main.add_command(selfharm_command)
