"""SlackNotifier driving the real slack_sdk clients against the fake Slack over HTTP."""

from __future__ import annotations

import time
import traceback
from typing import Any, Iterator

import pytest
from slack_sdk import WebClient

from bot.errors import NotifyError
from bot.notifiers import NOTIFIERS
from bot.notifiers.blocks import payload
from bot.notifiers.slack import SlackNotifier
from tests.fakes.slack import FakeSlack
from tests.notifiers import hostile_alert, sample_alert

TOKEN = "xoxb-1234-5678-s3cr3tT0k3n"
CHANNELS = {"alerts": "C0ALERTS", "ops": "#ops", "gone": "C0GONE"}


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # slack-sdk would send even requests for 127.0.0.1 through a proxy from the environment.
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN, channels={"C0ALERTS": "alerts", "C0OPS": "ops"}) as fake:
        yield fake


def notifier(slack: FakeSlack, **options: Any) -> SlackNotifier:
    settings: dict[str, Any] = {
        "token": TOKEN,
        "base_url": slack.url,
        "channels": CHANNELS,
        "default_channel": "alerts",
        "timeout": 5,
        "pace": 0,
        **options,
    }
    return SlackNotifier(**settings)


def send_error(target: SlackNotifier, channel: str | None = "alerts") -> NotifyError:
    with pytest.raises(NotifyError) as caught:
        target.post(payload(sample_alert()), channel).ts
    return caught.value


def full_text(err: BaseException) -> str:
    """Everything a log line with a traceback would show, causes included."""
    return "".join(traceback.format_exception(err))


def test_registered() -> None:
    assert NOTIFIERS["slack"] is SlackNotifier


def test_a_message_arrives_with_the_exact_payload(slack: FakeSlack) -> None:
    message = payload(sample_alert())

    ts = notifier(slack).post(message, "alerts").ts

    (stored,) = slack.messages("C0ALERTS")
    assert ts == stored.ts
    assert stored.text == message["text"]
    assert stored.blocks == message["blocks"]
    assert stored.metadata == message["metadata"]
    assert slack.calls[0].params["unfurl_links"] is False


def test_channel_names_resolve_through_the_config(slack: FakeSlack) -> None:
    target = notifier(slack)

    target.post(payload(sample_alert()), None).ts
    target.post(payload(sample_alert()), "ops").ts

    assert len(slack.messages("C0ALERTS")) == 1
    assert len(slack.messages("C0OPS")) == 1


def test_the_default_channel_may_be_a_slack_channel_itself(slack: FakeSlack) -> None:
    notifier(slack, channels={}, default_channel="#ops").post(payload(sample_alert()), None).ts

    assert len(slack.messages("C0OPS")) == 1


def test_hostile_alert_is_accepted_within_slack_limits(slack: FakeSlack) -> None:
    message = payload(hostile_alert())

    notifier(slack).post(message, "alerts").ts

    assert slack.messages("C0ALERTS")[0].blocks == message["blocks"]


def test_unknown_channel_name_names_the_known_ones(slack: FakeSlack) -> None:
    err = send_error(notifier(slack), "marketing")

    assert not err.retryable
    assert "unknown channel 'marketing'" in str(err)
    assert "alerts, gone, ops" in str(err)
    assert slack.calls == []


def test_no_channel_and_no_default(slack: FakeSlack) -> None:
    err = send_error(notifier(slack, default_channel=None), None)

    assert not err.retryable
    assert "no default channel" in str(err)


def test_rate_limited_is_retryable_after_slack_says(slack: FakeSlack) -> None:
    slack.rate_limit_next(1, retry_after=7)

    err = send_error(notifier(slack))

    assert err.retryable
    assert err.retry_after == 7.0
    assert len(slack.calls) == 1, "slack-sdk must not retry on its own: the outbox does"
    assert slack.messages() == []


def test_server_error_is_retryable(slack: FakeSlack) -> None:
    slack.fail_next(1, status=500)

    err = send_error(notifier(slack))

    assert err.retryable and err.retry_after is None
    assert "HTTP 500" in str(err)
    assert len(slack.calls) == 1


def test_slack_saying_internal_error_with_200_is_retryable(slack: FakeSlack) -> None:
    slack.fail_next(1, status=200, error="service_unavailable")

    assert send_error(notifier(slack)).retryable


def test_timeout_is_retryable(slack: FakeSlack) -> None:
    slack.delay_next(1, seconds=5)
    started = time.monotonic()

    err = send_error(notifier(slack, timeout=0.2))

    assert err.retryable
    assert "could not reach Slack" in str(err)
    assert time.monotonic() - started < 2


def test_connection_refused_is_retryable() -> None:
    with FakeSlack(token=TOKEN) as gone:
        target = notifier(gone)

    err = send_error(target)

    assert err.retryable
    assert "could not reach Slack" in str(err)


def test_invalid_auth_is_not_retryable_and_never_shows_the_token(slack: FakeSlack) -> None:
    wrong = "xoxb-9999-wrong-t0k3n"

    err = send_error(notifier(slack, token=wrong))

    assert not err.retryable
    assert str(err).startswith("slack: invalid_auth: Slack rejected the bot token")
    assert wrong not in full_text(err)


def test_channel_not_found_is_not_retryable(slack: FakeSlack) -> None:
    err = send_error(notifier(slack), "gone")

    assert not err.retryable
    assert "channel_not_found" in str(err)
    assert 'C0GONE (channel "gone")' in str(err)


def test_not_in_channel_says_to_invite_the_bot(slack: FakeSlack) -> None:
    slack.fail_next(1, status=200, error="not_in_channel")

    err = send_error(notifier(slack), "ops")

    assert not err.retryable
    assert str(err) == (
        "slack: not_in_channel: invite the bot to #ops (type /invite @<bot name> in the channel)"
    )


def test_missing_scope_names_the_scope(slack: FakeSlack) -> None:
    slack.fail_next(1, status=200, error="missing_scope")

    err = send_error(notifier(slack))

    assert not err.retryable
    assert "lacks the required scope" in str(err)


def test_blocks_beyond_slack_limits_are_refused_with_slacks_reasons(slack: FakeSlack) -> None:
    oversized = {"text": "x", "blocks": [{"type": "divider"}] * 51}

    with pytest.raises(NotifyError) as caught:
        notifier(slack).post(oversized, "alerts").ts

    assert not caught.value.retryable
    assert "invalid_blocks" in str(caught.value)
    assert "no more than 50 items allowed" in str(caught.value)


@pytest.mark.parametrize(
    "fault",
    [
        lambda s: s.rate_limit_next(1),
        lambda s: s.fail_next(1, status=503),
        lambda s: s.fail_next(1, status=200, error="not_in_channel"),
        lambda s: s.delay_next(1, 5),
    ],
)
def test_the_token_never_appears_in_errors(slack: FakeSlack, fault: Any) -> None:
    fault(slack)

    err = send_error(notifier(slack, timeout=0.2))

    assert TOKEN not in full_text(err)


def test_webhook_posts_the_blocks_without_metadata(slack: FakeSlack) -> None:
    message = payload(sample_alert())

    ts = SlackNotifier(webhook_url=slack.webhook_url).post(message, None).ts

    assert ts is None
    (stored,) = slack.messages(slack.webhook_channel)
    assert stored.blocks == message["blocks"]
    assert stored.metadata is None
    assert set(slack.calls[0].params) == {"text", "blocks", "unfurl_links", "unfurl_media"}


@pytest.mark.parametrize(
    ("fault", "retryable", "words"),
    [
        (lambda s: s.rate_limit_next(1, retry_after=3), True, "ratelimited (HTTP 429)"),
        (lambda s: s.fail_next(1, status=502, error="bad gateway"), True, "HTTP 502"),
        (lambda s: s.fail_next(1, status=404, error="no_service"), False, "create a new one"),
        (lambda s: s.fail_next(1, status=410, error="channel_is_archived"), False, "archived"),
    ],
)
def test_webhook_failures(slack: FakeSlack, fault: Any, retryable: bool, words: str) -> None:
    fault(slack)

    with pytest.raises(NotifyError) as caught:
        SlackNotifier(webhook_url=slack.webhook_url).post(payload(sample_alert()), None).ts

    assert caught.value.retryable is retryable
    assert words in str(caught.value)
    assert slack.webhook_path not in full_text(caught.value)


def test_webhook_refuses_oversized_blocks(slack: FakeSlack) -> None:
    header = {"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}

    with pytest.raises(NotifyError) as caught:
        SlackNotifier(webhook_url=slack.webhook_url).post({"text": "x", "blocks": [header]}, None).ts

    assert not caught.value.retryable
    assert "invalid_blocks" in str(caught.value)


def test_webhook_timeout_is_retryable_and_hides_the_url(slack: FakeSlack) -> None:
    slack.delay_next(1, 5)

    target = SlackNotifier(webhook_url=slack.webhook_url, timeout=0.2)

    with pytest.raises(NotifyError) as caught:
        target.post(payload(sample_alert()), None).ts

    assert caught.value.retryable
    assert slack.webhook_path not in full_text(caught.value)


@pytest.mark.parametrize(
    "options",
    [{}, {"token": TOKEN, "webhook_url": "https://hooks.slack.com/services/T/B/x"}],
)
def test_exactly_one_of_token_and_webhook(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="either a bot token or an incoming webhook URL"):
        SlackNotifier(**options)


def test_a_webhook_url_that_is_not_http_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError) as caught:
        SlackNotifier(webhook_url="file:///services/T/B/s3cr3t")

    assert "s3cr3t" not in str(caught.value)


# The fake itself, where later work relies on it behaving like Slack.


def test_fake_history_is_newest_first_with_metadata_on_request(slack: FakeSlack) -> None:
    client = WebClient(token=TOKEN, base_url=slack.url, retry_handlers=[])
    first = notifier(slack).post(payload(sample_alert(id=1)), "alerts").ts
    second = notifier(slack).post(payload(sample_alert(id=2)), "alerts").ts

    plain = client.conversations_history(channel="C0ALERTS")
    full = client.conversations_history(channel="C0ALERTS", include_all_metadata=True, limit=1)

    assert [m["ts"] for m in plain["messages"]] == [second, first]
    assert "metadata" not in plain["messages"][0]
    assert full["messages"][0]["metadata"]["event_payload"]["alert_id"] == 2
    assert full["has_more"] is True


def test_fake_update_and_auth_test(slack: FakeSlack) -> None:
    client = WebClient(token=TOKEN, base_url=slack.url, retry_handlers=[])
    ts = client.chat_postMessage(channel="#alerts", text="first")["ts"]

    client.chat_update(channel="C0ALERTS", ts=ts, text="edited")

    assert slack.messages("C0ALERTS")[0].text == "edited"
    assert client.auth_test()["user_id"] == "U0HARKBOT"


def test_fake_accepts_form_bodies(slack: FakeSlack) -> None:
    client = WebClient(token=TOKEN, base_url=slack.url, retry_handlers=[])
    blocks = '[{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]'

    client.api_call("chat.postMessage", data={"channel": "alerts", "text": "hi", "blocks": blocks})

    assert slack.messages("C0ALERTS")[0].blocks[0]["text"]["text"] == "hi"
