"""Hot reload of rule files: the daemon picks up edited rules without a restart.

`reload_rules(folder, previous, config)` is the whole policy, pure but for reading the folder:
files whose size and modification time are unchanged are not read again; a changed file that
loads without errors replaces its rules; a changed file WITH errors keeps the last good
version of its rules (if it ever had one) and its problems are reported; a deleted file's
rules go. `RuleWatcher` runs it before each evaluation (a stat per file: cheap), logs one
line when something changed, and sends an admin message through the outbox when a file is
broken, so it reaches Slack like an alert and is retried like one. `RuleWatcher.retire` tells
an evaluation why an open alert of a rule no longer in force may be closed (deleted, renamed,
disabled), and holds it while a broken file may still hold that rule.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from bot.errors import Problem
from bot.models import Alert, Finding
from bot.rules import Rule, _rule_files, load_file

log = logging.getLogger("harkbot")


@dataclass(frozen=True)
class FileState:
    stamp: tuple[int, int]  # (mtime_ns, size): what a cheap look compares
    digest: str  # sha256 of the bytes: an edit that changes nothing is not a reload
    rules: tuple[Rule, ...]  # the rules in force from this file (its last good version when broken)
    problems: tuple[Problem, ...]  # of the version on disk
    broken: bool  # the version on disk has errors


@dataclass(frozen=True)
class RuleSet:
    files: dict[str, FileState] = field(default_factory=dict)

    @property
    def rules(self) -> list[Rule]:
        """Every rule in force, by file name; a name already taken by an earlier file is skipped."""
        seen: set[str] = set()
        out = []
        for name in sorted(self.files):
            for rule in self.files[name].rules:
                if rule.name not in seen:
                    seen.add(rule.name)
                    out.append(rule)
        return out


@dataclass
class Reload:
    ruleset: RuleSet
    changed: list[str] = field(default_factory=list)  # files read again and now in force
    kept: list[str] = field(default_factory=list)  # broken files whose last good version stays in force
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # of every file read this time

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def any(self) -> bool:
        return bool(self.changed or self.kept or self.added or self.removed or self.errors)

    def summary(self) -> str:
        """One log line."""
        parts = []
        for label, names in (("reloaded", self.changed), ("added", self.added), ("removed", self.removed)):
            if names:
                parts.append(f"{label} {', '.join(Path(n).name for n in names)}")
        if self.kept:
            parts.append(f"kept the last good version of {', '.join(Path(n).name for n in self.kept)}")
        broken_new = [n for n, f in self.ruleset.files.items() if f.broken and n not in self.kept
                      and (n in self.changed or n in self.added)]
        if broken_new:
            parts.append(f"{', '.join(Path(n).name for n in broken_new)} has errors")
        errors = len(self.errors)
        text = "rules: " + ("; ".join(parts) or "unchanged")
        text += f"; {len(self.ruleset.rules)} rules in force"
        if errors:
            text += f"; {errors} error(s): {self.errors[0]}" + (" (and more)" if errors > 1 else "")
        return text


def reload_rules(folder: Path, previous: RuleSet | None, config: Any) -> Reload:
    """The rule files in `folder` now, given what was in force before (None: a first load)."""
    previous = previous or RuleSet()
    files: dict[str, FileState] = {}
    result = Reload(RuleSet(files))
    paths = _rule_files([folder]) if folder.is_dir() else []
    for path in paths:
        name = str(path)
        old = previous.files.get(name)
        try:
            stat = path.stat()
        except OSError:
            continue
        stamp = (stat.st_mtime_ns, stat.st_size)
        if old is not None and old.stamp == stamp:
            files[name] = old
            continue
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            continue
        if old is not None and old.digest == digest:
            files[name] = FileState(stamp, digest, old.rules, old.problems, old.broken)
            continue
        rules, problems = load_file(path, config)
        errors = [p for p in problems if p.severity == "error"]
        result.problems += problems
        if errors and old is not None and old.rules:
            files[name] = FileState(stamp, digest, old.rules, tuple(problems), True)
            result.kept.append(name)
            continue
        files[name] = FileState(stamp, digest, tuple(rules), tuple(problems), bool(errors))
        (result.added if old is None else result.changed).append(name)
    result.removed = [name for name in previous.files if name not in files]
    names: dict[str, str] = {}
    for name in sorted(files):
        for rule in files[name].rules:
            if rule.name in names and names[rule.name] != name:
                result.problems.append(Problem(rule.file, rule.line, 1, "name",
                                               f"rule name '{rule.name}' is already used in {names[rule.name]}",
                                               "rule names must be unique; rename one"))
            names.setdefault(rule.name, name)
    return result


class RuleWatcher:
    """Keeps the daemon's rules in step with the folder; see the module docstring."""

    def __init__(self, folder: Path, config: Any, store: Any = None, notifiers: Sequence[str] = (),
                 admin_channel: str | None = None):
        self.folder, self.config, self.store = folder, config, store
        self.notifiers, self.admin_channel = list(notifiers), admin_channel
        self.last = reload_rules(folder, None, config)
        self._told: tuple[str, ...] = ()  # the problems last reported, so each is said once
        self.origins: dict[str, str] = {}  # every rule name in force since start -> its file
        self._unsure = False  # the last reload failed: what is in force may not be what is on disk
        self._note_origins()

    @property
    def rules(self) -> list[Rule]:
        return self.last.ruleset.rules

    def refresh(self, now: datetime) -> list[Rule]:
        """Reload what changed; log one line and send an admin message when a file is broken."""
        try:
            result = reload_rules(self.folder, self.last.ruleset, self.config)
        except Exception as exc:  # never let a reload stop the evaluations
            log.error("rules: reload failed, keeping %d rules in force: %s", len(self.rules), exc)
            self._unsure = True
            return self.rules
        self._unsure = False
        if not result.any:
            return self.rules
        self.last = result
        self._note_origins()
        told = tuple(str(p) for p in result.errors)
        if result.changed or result.added or result.removed or told != self._told:
            (log.warning if result.errors else log.info)("%s", result.summary())
        if result.errors and told != self._told and self.store is not None:
            self.store.record_notice(notice(result, now, self.admin_channel), self.notifiers, now)
        self._told = told
        return self.rules


    def retire(self, rule: str) -> str | None:
        """Why the open alert of a rule that is no longer in force can be closed ("rule removed
        from rules/leaks.yaml"), or None to keep it open: a broken file keeps its last good
        version in force only while the daemon runs, so after a restart (or a first load that
        found the file broken) a rule still named in a broken file is kept until it is fixed.
        For `evaluate(..., retire=watcher.retire)`."""
        if self._unsure:
            return None
        for name, state in self.last.ruleset.files.items():
            if state.broken and _names(Path(name), rule):
                return None
        where = self.origins.get(rule)
        if where is None:
            return f"rule no longer in {self.folder.name}/ (deleted, renamed or disabled)"
        shown = f"{self.folder.name}/{Path(where).name}"
        if not Path(where).exists():
            return f"rule file {shown} deleted"
        return f"rule removed from {shown}"

    def _note_origins(self) -> None:
        for rule in self.rules:
            self.origins[rule.name] = rule.file


def _names(path: Path, rule: str) -> bool:
    """Whether a (broken) rule file may still hold the rule: its name is in the text. Unreadable: yes."""
    try:
        return rule in path.read_text(errors="replace")
    except OSError:
        return True


def notice(result: Reload, now: datetime, channel: str | None) -> Alert:
    """The admin message for a reload with problems."""
    errors = result.errors
    kept = ", ".join(Path(n).name for n in result.kept) or "none"
    title = (f"Rule files changed: {len(errors)} error(s); " +
             (f"kept the last good version of {kept}" if result.kept else "the broken rules are not in force"))
    lines = "\n".join(str(p) for p in errors[:10]) + (f"\n... and {len(errors) - 10} more" if len(errors) > 10 else "")
    finding = Finding(
        group="rules", title=title,
        reason=f"{len(errors)} error(s) in the rule files; fix them and save, or run `harkbot rules check`:\n{lines}",
        observed=float(len(errors)), usual=0.0, window_start=now, window_end=now,
        facts=(("Reloaded", ", ".join(Path(n).name for n in result.changed + result.added) or "none"),
               ("Kept last good version", kept),
               ("Rules in force", str(len(result.ruleset.rules)))),
    )
    return Alert(id=None, fingerprint="harkbot:rules", rule="harkbot-rules", kind="notice", severity="warning",
                 brand="", channel=channel, fired_at=now, finding=finding)
