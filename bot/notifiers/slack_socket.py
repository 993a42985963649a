"""Slack Socket Mode for `harkbot run`: the clicks on alert buttons, heard over a websocket the
bot opens itself (no public URL), with slack-sdk's built-in SocketModeClient.

    runner = start_interactive(config, env, store_factory)   # None when not configured
    ...
    runner.stop()

The client asks `apps.connections.open` (the app-level `xapp-` token, SLACK_APP_TOKEN) for a
websocket URL and connects; Slack sends `hello`, then envelopes. Every envelope is acked at
once, before any work (Slack wants the ack within 3 seconds, and a slow database must not
make a click look failed); a `block_actions` one is then recorded
(bot/notifiers/slack_interactive.handle) and its message updated in place with `chat.update`
(the bot token). When Slack sends `disconnect` (refresh_requested, about hourly, or warning)
or the socket drops, the SDK opens a new URL and reconnects; an envelope that was not acked
is delivered again, and its ref makes the replay harmless.

Why the built-in client: it needs nothing beyond slack-sdk, and it speaks plain `ws://` to a
port other than 443, which is how tests/fakes/slack_socket.py serves it locally.
"""

from __future__ import annotations

import logging
import socket
import threading
from datetime import datetime
from typing import Any, Callable, Mapping

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.errors import NotifyError
from bot.notifiers import slack_interactive
from bot.secrets import env_name, redact, resolve

log = logging.getLogger("harkbot")
# The SDK logs every reconnect at INFO and its failures at ERROR; ours are one line each.
_SDK_LOG = logging.getLogger("bot.notifiers.slack.socket")
_SDK_LOG.setLevel(logging.WARNING)

_TOKEN_HINTS = {
    "invalid_auth": "Slack rejected the app-level token; create one under Basic Information > App-Level Tokens "
                    "with the connections:write scope, and set it as {var}",
    "not_allowed_token_type": "{var} must be an app-level token (xapp-...), not the bot token (xoxb-...)",
    "not_authed": "set {var} to the app-level token (xapp-...)",
    "token_revoked": "the app-level token was revoked; create a new one and set it as {var}",
}


class InteractiveRunner:
    """One Socket Mode connection and what it does with clicks. `editor` is a SlackNotifier
    with the bot token (its `edit` is chat.update, its `privacy` the message's redaction);
    `store` is used by one click at a time."""

    def __init__(self, app_token: str, editor: Any, store: Any, *, base_url: str | None = None,
                 clock: Callable[[], datetime], notifier: str = "slack", ping_interval: float = 5.0,
                 token_var: str = "SLACK_APP_TOKEN", owns_store: bool = False):
        self.editor, self.store, self.clock, self.notifier = editor, store, clock, notifier
        self._owns_store = owns_store
        self._token_var = token_var
        self._secrets = [app_token]
        self._lock = threading.Lock()  # one click at a time: the store's connection is shared
        self.handled = 0
        # apps.connections.open takes the app token as its argument; this client holds no other.
        web = WebClient(base_url=base_url or WebClient.BASE_URL, logger=_SDK_LOG, retry_handlers=[])
        self.client = SocketModeClient(app_token=app_token, web_client=web, logger=_SDK_LOG,
                                       auto_reconnect_enabled=True, ping_interval=ping_interval)
        self.client.message_listeners.append(self._on_message)
        self.client.socket_mode_request_listeners.append(self._on_request)

    def start(self) -> InteractiveRunner:
        """Connect (the SDK's threads keep it connected). NotifyError when Slack refuses the token."""
        try:
            self.client.connect()
        except SlackApiError as exc:
            self.stop()
            error = str((exc.response.data or {}).get("error") if isinstance(exc.response.data, dict) else "")
            hint = _TOKEN_HINTS.get(error, "{var}: Slack refused to open a Socket Mode connection ({error})")
            raise NotifyError("slack socket mode: " + hint.format(var=self._token_var, error=error or "no reason"),
                              retryable=error not in _TOKEN_HINTS) from None
        except OSError as exc:
            self.stop()
            raise NotifyError(f"slack socket mode: could not reach Slack: {redact(str(exc), self._secrets)}",
                              retryable=True) from None
        return self

    def stop(self) -> None:
        """Close the connection, the SDK's threads, and the store, in about a second. The socket is
        shut first: the SDK's reading thread holds its lock through a read of up to 3 seconds,
        and closing waits for that lock."""
        self.client.auto_reconnect_enabled = False
        sock = getattr(self.client.current_session, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # closed already
        self.client.close()
        with self._lock:  # a click being handled finishes first
            close = getattr(self.store, "close", None)
            if close is not None and self._owns_store:
                close()

    def is_connected(self) -> bool:
        return self.client.is_connected()

    # -- the SDK's threads call these

    def _on_message(self, client: Any, message: dict, raw: str | None) -> None:
        kind = message.get("type")
        if kind == "hello":
            log.info("slack socket mode: connected, listening for clicks on alert buttons")
        elif kind == "disconnect":  # the SDK reconnects; this says why
            log.info("slack socket mode: Slack asked to reconnect (%s)", str(message.get("reason"))[:40])

    def _on_request(self, client: Any, request: SocketModeRequest) -> None:
        # The ack first, whatever the envelope: Slack shows the user an error after 3 seconds.
        client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))
        if request.type != "interactive" or request.payload.get("type") != "block_actions":
            log.debug("slack socket mode: ignored a %s envelope", request.type)
            return
        with self._lock:
            self.click(request.payload)

    def click(self, payload: Mapping[str, Any]) -> slack_interactive.Outcome:
        """Record one click and update its message; every refusal is logged, none is raised."""
        try:
            outcome = slack_interactive.handle(payload, self.store, self.clock(), notifier=self.notifier)
            if not outcome.ok:
                log.warning("%s", outcome.detail)
                return outcome
            log.info("%s", outcome.detail)
            message = outcome.message
            if message is not None:
                self._update(message)
            return outcome
        finally:
            self.handled += 1  # last: a test waiting on it sees the click's log lines and update

    def _update(self, message: Any) -> None:
        try:
            update = slack_interactive.redraw(self.store, message, privacy=getattr(self.editor, "privacy", None))
            self.editor.edit(update, message.channel, message.channel_id, message.ts)
        except NotifyError as exc:
            # Recorded all the same: the next click or the resolution draws the message again.
            log.warning("slack socket mode: recorded, but could not update the message: %s", exc)


def start_interactive(config: Any, env: Mapping[str, str], store_factory: Callable[[], Any], *,
                      clock: Callable[[], datetime] | None = None) -> InteractiveRunner | None:
    """The Socket Mode runner `harkbot run` starts beside the scheduler, connected; None when
    `slack.app_token` or the bot token is unset (`mode` says what is active instead).
    NotifyError when Slack refuses the app token. `store_factory()` is called once; the store
    it returns (a connection of the runner's own: `lambda: open_store(config.database)`) is
    closed by `stop()`."""
    from bot.app import privacy_for
    from bot.notifiers.slack import SlackNotifier

    slack = config.model.slack
    app_ref = getattr(slack, "app_token", None)
    app_token, token = resolve(app_ref, env), resolve(slack.token, env)
    if not app_token:
        return None
    if not token:
        log.warning("slack socket mode: off, %s is set but not the bot token (%s): buttons need it to update "
                    "their message", env_name(app_ref) or "slack.app_token", env_name(slack.token) or "slack.token")
        return None
    if clock is None:
        from bot.scheduler import now as clock
    base_url = resolve(slack.base_url, env)
    editor = SlackNotifier(token=token, base_url=base_url, channels={}, privacy=privacy_for(config), pace=0)
    runner = InteractiveRunner(app_token, editor, store_factory(), base_url=base_url, clock=clock,
                               token_var=env_name(app_ref) or "slack.app_token", owns_store=True)
    return runner.start()


def mode(config: Any, env: Mapping[str, str]) -> str:
    """How people triage from Slack with this config, for `harkbot status` and the start-up log."""
    slack = config.model.slack
    token, webhook = resolve(slack.token, env), resolve(slack.webhook_url, env)
    app_token = resolve(getattr(slack, "app_token", None), env)
    if token and app_token:
        return "buttons (Socket Mode)"
    if token:
        return "reactions (👍 useful, 👎 noise, 👀 ack; no app token, so no buttons)"
    if webhook:
        return "none (an incoming webhook can show no buttons and read no reactions; use a bot token)"
    return "off (Slack is not configured)"

