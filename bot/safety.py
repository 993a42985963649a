"""Safety alerts: a post that may come from a person at risk of self-harm goes, on its own,
to the safety channel with the crisis resources from config, never as an ordinary complaint.

Flags are set at ingest (bot/intake.py, bot/selfharm.py) and stored with the mention. Each
evaluation turns the flags of the configured levels into one alert each: critical (quiet
hours never hold it), a notice (never silenced, grouped or put in a digest), recorded with
the flag in one transaction so a flag is alerted exactly once. Every flag, alerted or not,
is kept out of other alerts' quoted posts (see Rule.explain).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Mapping, Sequence

from bot.models import Alert, Brand, Finding, Post
from bot.store import Store

log = logging.getLogger("harkbot")

LOOKBACK = timedelta(days=1)  # flags older than this when first seen (a config change) are not alerted late
LEVEL_TEXT = {
    "intent": "states an intent, plan, preparation or act of suicide",
    "ideation": "describes thoughts of suicide or of not wanting to live",
    "self-harm": "describes self-harm (cutting, burning, a relapse or hiding wounds)",
    "risk": "shows signs of risk that are unclear",
    "none": "tells of past thoughts of suicide or self-harm in care, with no sign of present risk",
}


def raise_safety_alerts(store: Store, brands: Mapping[str, Brand], settings: Any, notifiers: Sequence[str],
                        now: datetime) -> list[Alert]:
    """One alert per new flag of the configured levels; returns them."""
    if not settings.enabled:
        return []
    raised = []
    for level, cues, reason, sm in store.open_safety_flags(list(settings.alert_levels), now - LOOKBACK):
        alert = safety_alert(sm, level, cues, reason, brands, settings, now)
        alert_id = store.record_safety_alert(sm.mention.key, alert, notifiers, now)
        if alert_id is None:
            continue
        raised.append(alert)
        log.warning("safety: %s flag on %s (%s) sent to %s as alert %d", level, sm.mention.key,
                    ", ".join(cues[:3]), settings.channel or "the default channel", alert_id)
    return raised


def safety_alert(sm: Any, level: str, cues: Sequence[str], reason: str, brands: Mapping[str, Brand],
                 settings: Any, now: datetime) -> Alert:
    m = sm.mention
    brand = sm.brands[0] if sm.brands else ""
    name = brands[brand].name if brand in brands else brand
    finding = Finding(
        group=brand,
        title=f"Possible self-harm: a person may be at risk ({name})",
        reason=(f"This {m.platform} post {LEVEL_TEXT.get(level, 'shows signs of risk')} ({reason}). "
                f"It is not treated as a complaint and is kept out of other alerts. A person should read it "
                f"now and follow your escalation plan. If you reach out: {settings.resources}"),
        observed=1, usual=0, window_start=m.created_at, window_end=m.created_at,
        facts=(("Level", level), ("Evidence", ", ".join(cues[:5]) or "-"), ("Platform", m.platform),
               ("Posted", m.created_at.strftime("%Y-%m-%d %H:%M UTC"))),
        posts=(Post.of(sm),),
    )
    return Alert(id=None, fingerprint=f"safety:{m.key}", rule="self-harm-safety", kind="safety",
                 severity="critical", brand=brand, channel=settings.channel, fired_at=now, finding=finding,
                 state="notice")
