"""Slack delivery: the Web API with a bot token, or an incoming webhook.

Every failure becomes a `NotifyError` whose `.retryable` tells the outbox what to do; the
outbox owns retries, so slack-sdk's retry handlers are off and one send() is one request.
Neither the token nor the webhook URL (which is a secret too) appears in any error.
"""

from __future__ import annotations

import http.client
import logging
import time
from datetime import datetime
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web.slack_response import SlackResponse
from slack_sdk.webhook import WebhookClient

from bot.errors import NotifyError, NotSent
from bot.models import Alert
from bot.notifiers import Posted, blocks
from bot.secrets import redact

# slack-sdk writes request URLs (a webhook URL is its secret) to its debug log whenever the
# logger's own level allows, and logs each failed request as an error; we report every
# failure ourselves, once, as a NotifyError.
_SDK_LOG = logging.getLogger("bot.notifiers.slack.sdk")
_SDK_LOG.setLevel(logging.CRITICAL)

# Errors that mean "try again later" rather than "this request is wrong", whatever the status.
_TRANSIENT = frozenset(
    {
        "ratelimited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
    }
)

_BAD_TOKEN = "Slack rejected the bot token; set a current bot token (xoxb-...) for this workspace"
_BAD_WEBHOOK = (
    "the incoming webhook URL is wrong or was revoked; create a new one for the Slack app "
    "and update the config"
)
_BAD_LAYOUT = "Slack rejected the message layout{detail}; this is a harkbot bug, please report it"
_HINTS = {
    "invalid_auth": _BAD_TOKEN,
    "not_authed": _BAD_TOKEN,
    "token_revoked": "the bot token was revoked; reinstall the Slack app and use its new token",
    "token_expired": "the bot token expired; reinstall the Slack app and use its new token",
    "account_inactive": "the bot token's app or user was deactivated; reinstall the Slack app",
    "channel_not_found": (
        "Slack cannot find {channel}; check the channel in the config "
        "(the bot sees a private channel only once invited to it)"
    ),
    "not_in_channel": "invite the bot to {channel} (type /invite @<bot name> in the channel)",
    "is_archived": "{channel} is archived; unarchive it or send these alerts to another channel",
    "channel_is_archived": "the webhook's channel is archived; unarchive it or make a new webhook",
    "missing_scope": (
        "the Slack app lacks the {needed} scope; add it under OAuth & Permissions and "
        "reinstall the app"
    ),
    "restricted_action": "a Slack admin has restricted posting to {channel}; pick another channel",
    "action_prohibited": "a Slack admin has restricted posting to the webhook's channel",
    "invalid_token": _BAD_WEBHOOK,
    "no_service": _BAD_WEBHOOK,
    "no_active_hooks": _BAD_WEBHOOK,
    "invalid_blocks": _BAD_LAYOUT,
    "invalid_blocks_format": _BAD_LAYOUT,
    "msg_too_long": _BAD_LAYOUT,
}


class SlackNotifier:
    name = "slack"

    def __init__(
        self,
        *,
        token: str | None = None,
        webhook_url: str | None = None,
        base_url: str | None = None,
        channels: dict[str, str] | None = None,
        default_channel: str | None = None,
        timeout: float = 10,
        routing: Any = None,
        privacy: Any = None,
        pace: float = 1.0,
        interactive: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        """Give a bot token (Web API) or an incoming webhook URL, already resolved.

        `channels` maps the channel names rules use ("alerts") to Slack channels (an id or
        "#name"); `default_channel` is such a name, or a Slack channel itself.
        """
        if bool(token) == bool(webhook_url):
            raise ValueError("slack: give either a bot token or an incoming webhook URL")
        if webhook_url and not _is_http(webhook_url):
            raise ValueError("slack: the incoming webhook URL must start with https://")
        if base_url and not _is_http(base_url):
            raise ValueError(f"slack: base_url must be an http(s) URL, not {base_url!r}")
        self.channels = dict(channels or {})
        self.default_channel = default_channel
        self.routing = routing  # bot.routing.Routing: channels, quiet hours, digests
        self.privacy = privacy  # what shared channels may see of a post
        self.threads = bool(token)  # an incoming webhook can neither reply, edit nor look back
        # Triage buttons on alert messages: only when their clicks are heard (Socket Mode,
        # bot/notifiers/slack_socket.py), which takes a bot token to update the message.
        self.interactive = bool(token) and interactive
        # Slack allows about one message a second per channel; bursts beyond it get 429s.
        self._pace, self._clock, self._sleep = pace, clock, sleep
        self._last: dict[str, float] = {}
        self._secrets = [s for s in (token, webhook_url) if s]
        self._bot_user: str | None = None
        # slack-sdk annotates timeout as int; urllib takes any number of seconds.
        self._web = (
            WebClient(
                token=token,
                base_url=base_url or WebClient.BASE_URL,
                timeout=timeout,  # type: ignore[arg-type]
                logger=_SDK_LOG,
                retry_handlers=[],
            )
            if token
            else None
        )
        self._webhook = (
            WebhookClient(
                webhook_url,
                timeout=timeout,  # type: ignore[arg-type]
                logger=_SDK_LOG,
                retry_handlers=[],
            )
            if webhook_url
            else None
        )

    def payload(self, alert: Alert) -> dict[str, Any]:
        return blocks.payload(alert, privacy=self.privacy, actions=self.interactive)

    def post(self, payload: dict[str, Any], channel: str | None, *, thread_ts: str | None = None,
             ready: Callable[[], bool] | None = None) -> Posted:
        """Post the message (in a thread when `thread_ts` is given).

        `channel` is a configured channel name, None for the default. An incoming webhook
        posts to the one channel it was made for, so it ignores `channel` and threads.
        `ready()` is asked after the wait for the channel's turn (that wait is where a frozen
        sender would otherwise resume and post a row its lane's new holder already sent).
        """
        if self._webhook is not None:
            self._wait_turn("webhook")
            _check(ready)
            self._post_webhook(self._webhook, payload)
            return Posted(channel)
        assert self._web is not None  # the constructor made one or the other
        target = self._target(channel)
        self._wait_turn(target)
        _check(ready)
        response = self._call(channel, target, lambda web: web.chat_postMessage(
            channel=target,
            text=payload["text"],
            blocks=payload["blocks"],
            metadata=payload.get("metadata"),
            thread_ts=thread_ts,
            # A quoted post's link must not unfurl into a preview of whatever it points at.
            unfurl_links=False,
            unfurl_media=False,
        ))
        return Posted(channel, str(response.get("channel") or target), str(response["ts"]))

    def edit(self, payload: dict[str, Any], channel: str | None, channel_id: str | None, ts: str | None) -> None:
        """chat.update a message this bot posted (a webhook's messages cannot be edited)."""
        if self._web is None or ts is None:
            return
        target = channel_id or self._target(channel)
        self._call(channel, target, lambda web: web.chat_update(
            channel=target, ts=ts, text=payload["text"], blocks=payload["blocks"], metadata=payload.get("metadata")))

    def bot_user(self) -> str | None:
        """The bot's own Slack user id (auth.test, asked once); None for a webhook."""
        if self._web is None:
            return None
        if self._bot_user is None:
            response = self._call(None, "auth.test", lambda web: web.auth_test())
            self._bot_user = str(response.get("user_id") or "") or None
        return self._bot_user

    def reactions(self, channel_id: str, ts: str) -> list[dict[str, Any]]:
        """The reactions on a message this bot posted (reactions.get, scope reactions:read):
        [{"name": "+1", "users": ["U0123"], "count": 1}, ...]; [] for a webhook."""
        if self._web is None:
            return []
        response = self._call(None, channel_id, lambda web: web.reactions_get(channel=channel_id, timestamp=ts,
                                                                               full=True))
        return list((response.get("message") or {}).get("reactions") or ())

    def find(self, key: str, channel: str | None, since: datetime, *, thread_ts: str | None = None) -> Posted | None:
        """Our message carrying `key` in its metadata, posted since `since`: the check before a
        re-post, after a crash or a timeout left it unknown whether Slack took the first one."""
        if self._web is None:
            return None
        target = self._target(channel)
        oldest = f"{since.timestamp() - 120:.6f}"  # clocks differ; a little earlier is harmless
        cursor: str | None = None
        for _page in range(20):  # 20 x 200 messages: far more than a channel gets in an outage
            if thread_ts is None:
                call = lambda web: web.conversations_history(  # noqa: E731
                    channel=target, oldest=oldest, include_all_metadata=True, limit=200, cursor=cursor)
            else:
                call = lambda web: web.conversations_replies(  # noqa: E731
                    channel=target, ts=thread_ts, oldest=oldest, include_all_metadata=True, limit=200,
                    cursor=cursor)
            response = self._call(channel, target, call)
            for message in response.get("messages") or ():
                meta = message.get("metadata") or {}
                if (meta.get("event_type") == blocks.EVENT_TYPE
                        and (meta.get("event_payload") or {}).get("key") == key):
                    return Posted(channel, str(response.get("channel") or target), str(message.get("ts")))
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None
        return None

    def _call(self, channel: str | None, target: str,
              request: Callable[[WebClient], SlackResponse]) -> SlackResponse:
        assert self._web is not None
        try:
            return request(self._web)
        except SlackApiError as err:
            # `from None`: the sdk's response keeps the request headers, token included.
            raise self._refused(err.response, _describe(channel or self.default_channel, target)) from None
        except (OSError, http.client.HTTPException) as err:
            raise self._error(f"could not reach Slack: {_reason(err)}", True) from err

    def _wait_turn(self, target: str) -> None:
        """At most one message a second per channel, so a burst of alerts stays under Slack's limit."""
        last = self._last.get(target)
        if last is not None and self._pace > 0:
            wait = last + self._pace - self._clock()
            if wait > 0:
                self._sleep(wait)
        self._last[target] = self._clock()

    def _post_webhook(self, webhook: WebhookClient, payload: dict[str, Any]) -> None:
        try:
            response = webhook.send(
                text=payload["text"],
                blocks=payload["blocks"],
                unfurl_links=False,
                unfurl_media=False,
            )
        except (OSError, http.client.HTTPException) as err:
            raise self._error(f"could not reach Slack: {_reason(err)}", True) from err
        if response.status_code != 200:
            error = (response.body or "").strip()[:200]
            message, retryable = _refusal(response.status_code, error, "the webhook's channel")
            raise self._error(message, retryable, _retry_after(response.headers))

    def _refused(self, response: SlackResponse, channel: str) -> NotifyError:
        data = response.data if isinstance(response.data, dict) else {}
        details = data.get("response_metadata", {}).get("messages", [])[:2]
        message, retryable = _refusal(
            response.status_code,
            str(data.get("error") or ""),
            channel,
            needed=str(data.get("needed") or "required"),
            detail=f" ({'; '.join(details)})" if details else "",
        )
        return self._error(message, retryable, _retry_after(response.headers))

    def _error(
        self, message: str, retryable: bool, retry_after: float | None = None
    ) -> NotifyError:
        """Every NotifyError that quotes Slack or the network is made here, secrets removed."""
        return NotifyError(f"slack: {redact(message, self._secrets)}", retryable, retry_after)

    def serves(self, channel: str) -> bool:
        """A channel name this notifier can post to: an incoming webhook posts everything to its
        one channel; a bot token, the channels configured for it."""
        return self._webhook is not None or channel in self.channels

    def _target(self, name: str | None) -> str:
        """The Slack channel for a configured channel name; None means the default."""
        if name is None:
            if self.default_channel is None:
                raise NotifyError(
                    "slack: no channel given and no default channel configured", retryable=False
                )
            return self.channels.get(self.default_channel, self.default_channel)
        if name not in self.channels:
            known = ", ".join(sorted(self.channels)) or "none are configured"
            raise NotifyError(
                f"slack: unknown channel {name!r}; known channels: {known}", retryable=False
            )
        return self.channels[name]


def _refusal(
    status: int, error: str, channel: str, *, needed: str = "required", detail: str = ""
) -> tuple[str, bool]:
    """What to say about a Slack refusal, and whether waiting can fix it."""
    retryable = status == 429 or status >= 500 or error in _TRANSIENT
    hint = _HINTS.get(error)
    if hint and not retryable:
        return f"{error}: " + hint.format(channel=channel, needed=needed, detail=detail), False
    what = f"{error} (HTTP {status})" if error else f"HTTP {status}"
    return f"{what} posting to {channel}", retryable


def _retry_after(headers: Mapping[str, Any]) -> float | None:
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                return float(value)
            except (TypeError, ValueError):
                return None
    return None


def _reason(err: BaseException) -> str:
    return str(err) or type(err).__name__


def _describe(name: str | None, target: str) -> str:
    """'#alerts', or 'C0123 (channel "alerts")' when the config names an id."""
    if name is None or name.lstrip("#") == target.lstrip("#"):
        return target
    return f'{target} (channel "{name}")'


def _is_http(url: str) -> bool:
    return urlsplit(url).scheme in ("http", "https")


def _check(ready: Callable[[], bool] | None) -> None:
    if ready is not None and not ready():
        raise NotSent("not posted: no longer this process's to send")
