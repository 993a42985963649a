"""Slack's privacy mode: what a shared channel sees of a post (healthcare's minimum necessary).

E-mail addresses and phone numbers in post text become `[email]` / `[phone]`; private
individuals' handles, as authors and inside text, become "an X user (45 followers)" /
`@[user]`. Public accounts (reach at least `public_reach`), the brands' own handles and the
keep list stay readable. The link to each post stays, since the team must be able to act on
it, but an X link is rewritten to the form without the author's handle. The store keeps the
full text for the reputation team; only messages are redacted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Iterable

from bot.models import Post
from bot.privacy import HandlePolicy, author_label, redact
from bot.query import Handle, Query

# https://x.com/<handle>/status/<id> -> https://x.com/i/web/status/<id>, which X redirects.
_X_STATUS = re.compile(r"^https://(?:www\.|mobile\.)?(?:x|twitter)\.com/[A-Za-z0-9_]{1,15}/status/(\d{1,25})(?=$|[?#/])")


@dataclass(frozen=True)
class SlackPrivacy:
    emails: bool = True
    phones: bool = True
    handles: HandlePolicy | None = HandlePolicy()

    @classmethod
    def from_settings(cls, settings: Any, brand_queries: Iterable[Query] = ()) -> SlackPrivacy:
        """From config's `slack.privacy`; the brands' own @handles are always kept."""
        own = [term.handle for q in brand_queries for term in q.terms() if isinstance(term, Handle)]
        policy = HandlePolicy.of([*settings.keep_handles, *own], public_reach=settings.public_reach)
        return cls(settings.emails, settings.phones, policy if settings.handles else None)

    def for_posts(self, posts: Iterable[Post]) -> SlackPrivacy:
        """This policy, also keeping the handles of the public accounts among `posts`, so that
        a title naming a 400k-follower account ("top: @newsdesk") keeps it while a private
        person's handle in the same text goes."""
        if self.handles is None:
            return self
        public = [p.author for p in posts
                  if p.author and p.platform != "reddit" and p.author_reach >= self.handles.public_reach]
        if not public:
            return self
        keep = HandlePolicy.of([*self.handles.keep, *public], public_reach=self.handles.public_reach)
        return replace(self, handles=keep)

    def text(self, text: str) -> str:
        return redact(text, emails=self.emails, phones=self.phones, handles=self.handles).text

    def post(self, post: Post) -> Post:
        author, url = post.author, post.url
        if self.handles is not None:
            author = author_label(post.author, post.author_reach, post.platform, self.handles)
            if author != post.author and not author.startswith(("@", "u/")):
                url = _X_STATUS.sub(r"https://x.com/i/web/status/\1", url)
        return replace(post, author=author, url=url, text=self.text(post.text))
