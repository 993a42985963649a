"""The listener registry: one line per listener. The key is what config.yaml names."""

from __future__ import annotations

from listeners.base import Listener
from listeners.bluesky import BlueskyListener
from listeners.demo import DemoListener
from listeners.hackernews import HackerNewsListener
from listeners.mastodon import MastodonListener
from listeners.reddit import RedditListener
from listeners.rss import RSSListener
from listeners.twitter import TwitterListener
from listeners.youtube import YouTubeListener

REGISTRY: dict[str, type[Listener]] = {}


def register(cls: type[Listener]) -> type[Listener]:
    REGISTRY[cls.name] = cls
    return cls


register(TwitterListener)
register(RedditListener)
register(YouTubeListener)
register(MastodonListener)
register(BlueskyListener)
register(HackerNewsListener)
register(RSSListener)
register(DemoListener)
