"""YouTube's quota: what a day of walks costs, and when a spent quota comes back.

Quota drives the YouTube listener's design: search.list costs 100 of the default 10,000 daily
units; every other call costs 1 (a commentThreads page carries some replies at no extra cost;
comments.list pages for the rest are capped by `max_reply_pages` a walk). `quota_plan`
reckons a day of walks against `daily_quota`, and a quotaExceeded answer rests the listener
until the quota resets at midnight Pacific.
"""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.models import utc
from listeners.base import MIN_RETRY_AFTER, QuotaPlan

if TYPE_CHECKING:
    from listeners.youtube import YouTubeListener

QUOTA_TZ = ZoneInfo("America/Los_Angeles")  # the daily quota resets at midnight Pacific
SEARCH_UNITS = 100  # search.list; every other call here costs 1 unit


def quota_plan(options: YouTubeListener.Options, brands: int) -> QuotaPlan:
    """Units a day at most: every walk reads every page it may (fewer is the usual case)."""
    runs = math.ceil(timedelta(days=1) / options.every)
    searches = brands * runs * options.max_pages
    statistics = 2 * searches if options.statistics else 0
    sources = options.max_followed_videos + len(options.channels)
    comments = runs * sources * options.max_comment_pages
    replies = runs * options.max_reply_pages
    used = searches * SEARCH_UNITS + statistics + comments + replies
    detail = (f"{brands} brands x {runs} walks x {options.max_pages} pages x {SEARCH_UNITS} (search)"
              f" + {statistics} (statistics) + {runs} walks x {sources} videos and channels"
              f" x {options.max_comment_pages} pages (comments) + {runs} walks x {options.max_reply_pages}"
              " comments.list pages (replies)")
    return QuotaPlan("youtube", used, options.daily_quota, "quota units", detail)


def seconds_until_quota_reset(now: datetime) -> float:
    """Seconds from now to the next midnight in America/Los_Angeles (at least 60)."""
    local = utc(now).astimezone(QUOTA_TZ)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=QUOTA_TZ)
    return max((midnight - utc(now)).total_seconds(), MIN_RETRY_AFTER)
