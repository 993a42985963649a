"""Credentials and client construction for the three platform listeners, with no network."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from pydantic import ValidationError

from bot.errors import MissingCredentials
from listeners.reddit import RedditListener
from listeners.twitter import TWEEPY_HOST, TwitterListener, _Gateway
from listeners.youtube import YouTubeListener

ENV = {
    "X_BEARER_TOKEN": "AAAAx-bearer-token",
    "REDDIT_CLIENT_ID": "reddit-client-id",
    "REDDIT_CLIENT_SECRET": "reddit-client-secret",
    "YOUTUBE_API_KEY": "AIza-youtube-key",
}


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to resolve a name or open a connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[:2]}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.mark.parametrize(
    ("cls", "variables"),
    [
        (TwitterListener, ["X_BEARER_TOKEN"]),
        (RedditListener, ["REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET"]),
        (YouTubeListener, ["YOUTUBE_API_KEY"]),
    ],
)
def test_an_empty_environment_names_every_missing_variable(cls, variables):
    with pytest.raises(MissingCredentials) as info:
        cls.from_config(cls.Options(), {})
    assert info.value.variables == variables
    assert info.value.listener == cls.name
    assert not info.value.retryable
    assert str(info.value) == f"{cls.name}: skipped, set {', '.join(variables)} to enable it"


def test_an_empty_variable_counts_as_unset_and_only_the_missing_one_is_named():
    with pytest.raises(MissingCredentials) as info:
        RedditListener.from_config(RedditListener.Options(), {"REDDIT_CLIENT_ID": "id", "REDDIT_CLIENT_SECRET": ""})
    assert info.value.variables == ["REDDIT_CLIENT_SECRET"]


def test_a_renamed_variable_is_the_one_named():
    options = TwitterListener.Options(bearer_token="${ACME_X_TOKEN}")
    with pytest.raises(MissingCredentials, match="set ACME_X_TOKEN to enable it"):
        TwitterListener.from_config(options, ENV)


@pytest.mark.parametrize("cls", [TwitterListener, RedditListener, YouTubeListener])
def test_with_credentials_the_listener_is_built_without_any_network_call(cls, no_network):
    listener = cls.from_config(cls.Options(), ENV)
    assert listener.options == cls.Options()


@pytest.mark.parametrize("cls", [TwitterListener, RedditListener, YouTubeListener])
def test_options_may_come_as_a_plain_mapping(cls, no_network):
    assert cls.from_config({"enabled": True}, ENV).options == cls.Options()


def test_twitter_client_is_app_only_and_does_not_sleep_on_rate_limits(no_network):
    client = TwitterListener.from_config(TwitterListener.Options(), ENV).client
    assert client.bearer_token == ENV["X_BEARER_TOKEN"]
    assert client.wait_on_rate_limit is False
    assert client.return_type is dict


def test_twitter_base_url_reroutes_tweepys_host(no_network):
    options = TwitterListener.Options(base_url="http://127.0.0.1:8080/")
    session = TwitterListener.from_config(options, ENV).client.session
    adapter = session.get_adapter(f"{TWEEPY_HOST}/2/tweets/search/recent")
    assert isinstance(adapter, _Gateway)
    assert adapter.base_url == "http://127.0.0.1:8080/"


def test_reddit_is_read_only_and_base_url_moves_both_endpoints(no_network):
    reddit = RedditListener.from_config(RedditListener.Options(), ENV).reddit
    assert reddit.read_only
    assert reddit.config.oauth_url == "https://oauth.reddit.com"
    moved = RedditListener.from_config(RedditListener.Options(base_url="http://127.0.0.1:8080/"), ENV).reddit
    assert moved.config.oauth_url == "http://127.0.0.1:8080"
    assert moved.config.reddit_url == "http://127.0.0.1:8080"


def test_youtube_base_url_is_the_api_endpoint(no_network):
    default = YouTubeListener.from_config(YouTubeListener.Options(), ENV).youtube
    assert default.search().list(part="snippet", q="mindful").uri.startswith("https://youtube.googleapis.com/")
    options = YouTubeListener.Options(base_url="http://127.0.0.1:8080/gw")
    youtube = YouTubeListener.from_config(options, ENV).youtube
    uri = youtube.search().list(part="snippet", q="mindful").uri  # built, not sent
    assert uri.startswith("http://127.0.0.1:8080/gw/youtube/v3/search?")


@pytest.mark.parametrize("cls", [TwitterListener, RedditListener, YouTubeListener])
def test_secrets_do_not_show_in_the_listener_or_its_options(cls, no_network):
    listener = cls.from_config(cls.Options(), ENV)
    shown = repr(listener) + repr(listener.options) + str(vars(listener.options))
    assert not any(secret in shown for secret in ENV.values())


def test_defaults_and_descriptions():
    assert TwitterListener.Options().every == timedelta(minutes=5)
    assert RedditListener.Options().every == timedelta(minutes=5)
    assert YouTubeListener.Options().every == timedelta(hours=1)
    assert RedditListener.Options().subreddits == ["all"]
    for cls in (TwitterListener, RedditListener, YouTubeListener):
        own = set(cls.Options.model_fields) - {"enabled", "base_url"}
        assert all(cls.Options.model_fields[f].description for f in own), cls.name


@pytest.mark.parametrize("cls", [TwitterListener, RedditListener, YouTubeListener])
def test_unknown_option_keys_are_refused(cls):
    with pytest.raises(ValidationError):
        cls.Options.model_validate({"bearer_tokn": "${X}", "api_kye": "${Y}"})


def test_names_and_registry():
    from listeners import REGISTRY

    assert REGISTRY["twitter"] is TwitterListener
    assert REGISTRY["reddit"] is RedditListener
    assert REGISTRY["youtube"] is YouTubeListener
