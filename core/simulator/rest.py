"""The REST listings the product reads, answered as GitHub answers them:
`GET /repos/{owner}/{repo}/issues/comments` (a repository's conversation comments; the
simulator's issues have none, so these are its PRs' comments),
`GET /repos/{owner}/{repo}/issues/comments/{comment_id}` (one, 404 once deleted),
`GET /repos/{owner}/{repo}/pulls/comments` (its inline review comments) and
`GET /repos/{owner}/{repo}/pulls/comments/{comment_id}` (one, 404 once deleted).
A repository asked for by a name it had before a rename or a transfer is answered 301 with
its new place in `Location`, as GitHub answers REST (docs.github.com/rest/using-the-rest-api/
best-practices-for-using-the-rest-api#follow-redirects); GraphQL resolves the old name.

GitHub's rules followed (docs.github.com/rest/issues/comments#list-issue-comments-for-a-repository,
/rest/pulls/comments#list-review-comments-in-a-repository,
/rest/using-the-rest-api/using-pagination-in-the-rest-api,
/rest/using-the-rest-api/rate-limits-for-the-rest-api, /rest/using-the-rest-api/best-practices):
`per_page` 30 by default and at most 100; `page` from 1; a `Link` header with rel="next" and
rel="last" (absent on the last page); `sort` created (default) or updated, `direction` asc or
desc (without `sort`, review comments come by ascending id); `since` keeps comments updated
at or after it; every answer has a
weak `ETag`, and a request whose `If-None-Match` matches is answered 304 with no body and
costs nothing, whatever the query (`since` included); an ETag is specific to the token that
got it (GitHub: "ETags are auth token specific", so an App's hourly renewed installation
token gets new ones, and an old one is answered 200); `x-ratelimit-*` headers with
resource `core` (its own budget per token, 5,000 an hour unless configured); past the
budget a 403 "API rate limit exceeded"; a secondary limit is a 403 with `retry-after`.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

from . import responses as R
from .data import Repo, iso
from .ids import COMMENT_SPAN
from .threads import live_comments, review_comment, thread, thread_count

_COMMENTS_RE = re.compile(
    r"^(?:/api/v3)?/repos/([^/]+)/([^/]+)/(issues|pulls)/comments(?:/(\d+))?/?$"
)
REST_DOCS = "https://docs.github.com/rest"
HOUR = 3600


@dataclass
class RestBudget:
    """One token's REST (`core`) budget: requests counted in the hour from the first."""

    limit: int
    used: int = 0
    reset_at: float = 0.0
    requests: int = 0  # every REST request, 304s included


def _epoch(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


class RestApi:
    """GitHub's REST listings over the simulator's world (`find(owner, name)` -> Repo)."""

    def __init__(
        self, find: Any, limit: int = 5000, secondary_every: int = 0, secondary_status: int = 403
    ) -> None:
        """`secondary_every`: every Nth REST request is refused with a secondary limit
        (`secondary_status` 403 or 429, retry-after 1), 0 never."""
        self.secondary_status = secondary_status
        self.find = find
        self.limit = limit
        self.secondary_every = secondary_every
        self.budgets: dict[str, RestBudget] = {}
        self.counts = {"requests": 0, "not_modified": 0, "secondary": 0, "primary": 0}
        self._listings: dict[tuple, list[dict[str, Any]]] = {}

    @staticmethod
    def handles(method: str, path: str) -> bool:
        return method == "GET" and _COMMENTS_RE.match(path) is not None

    def handle(
        self, path: str, query: str, headers: Mapping[str, str], token: str, now: float, host: str
    ) -> R.SimResponse:
        """One answer; `host`: the Host the request named (for the Link header's URLs)."""
        budget = self.budgets.setdefault(token, RestBudget(self.limit))
        if now >= budget.reset_at:
            budget.used, budget.reset_at = 0, now + HOUR
        budget.requests += 1
        self.counts["requests"] += 1
        match = _COMMENTS_RE.match(path)
        assert match is not None
        repo: Repo | None = self.find(match.group(1), match.group(2))
        review = match.group(3) == "pulls"
        args = {k: v[-1] for k, v in parse_qs(query).items()}
        if budget.used >= budget.limit:
            self.counts["primary"] += 1
            return self._answer(
                403, budget, {"message": "API rate limit exceeded", "documentation_url": REST_DOCS}
            )
        if self.secondary_every and budget.requests % self.secondary_every == 0:
            self.counts["secondary"] += 1
            body = {
                "message": "You have exceeded a secondary rate limit. Please wait a few minutes"
                " before you try again.",
                "documentation_url": REST_DOCS,
            }
            return self._answer(self.secondary_status, budget, body, {"retry-after": "1"})
        if repo is None:
            budget.used += 1
            return self._answer(
                404, budget, {"message": "Not Found", "documentation_url": REST_DOCS}
            )
        asked_name = f"{match.group(1)}/{match.group(2)}"
        if asked_name.lower() != repo.full_name.lower():  # renamed or transferred since
            budget.used += 1
            # the new place relative to the request's own scheme and host (RFC 9110 allows it)
            moved = path.replace(asked_name, repo.full_name, 1) + (f"?{query}" if query else "")
            body = {"message": "Moved Permanently", "url": moved, "documentation_url": REST_DOCS}
            return self._answer(301, budget, body, {"location": moved})
        if match.group(4) is not None:  # one comment: GET .../{issues|pulls}/comments/{id}
            budget.used += 1
            number = int(match.group(4))
            found = self._one_review(repo, number) if review else self._one(repo, number)
            if found is None:
                body = {"message": "Not Found", "documentation_url": REST_DOCS}
                return self._answer(404, budget, body)
            one = self._rest_review(repo, found) if review else self._rest(repo, found)
            return self._answer(200, budget, one)
        try:
            per_page = min(100, max(1, int(args.get("per_page", "30"))))
            page = max(1, int(args.get("page", "1")))
            since = _epoch(args["since"]) if args.get("since") else None
        except ValueError:
            budget.used += 1
            return self._answer(422, budget, {"message": "Validation Failed"})
        sort = args.get("sort", "id" if review else "created")
        descending = args.get("direction", "asc" if sort != "updated" else "desc") == "desc"
        items = self._listing(repo, since, sort, descending, review)
        last = max(1, math.ceil(len(items) / per_page))
        show = self._rest_review if review else self._rest
        shown = [show(repo, c) for c in items[(page - 1) * per_page : page * per_page]]
        encoded = R.dump(shown)
        tagged = hashlib.sha256(token.encode() + b"\0" + encoded).hexdigest()[:32]
        etag = 'W/"' + tagged + '"'
        extra = {"etag": etag}
        if page < last:
            base = f"http://{host}{path}"
            link = lambda n: f"<{base}?{urlencode(args | {'page': str(n)})}>"  # noqa: E731
            extra["link"] = f'{link(page + 1)}; rel="next", {link(last)}; rel="last"'
        asked = next((v for k, v in headers.items() if k.lower() == "if-none-match"), None)
        if asked is not None and etag in [t.strip() for t in asked.split(",")]:
            self.counts["not_modified"] += 1  # free: GitHub does not count a 304
            return R.SimResponse(304, self._headers(budget, extra), b"")
        budget.used += 1
        return R.SimResponse(200, self._headers(budget, extra), encoded)

    def _listing(
        self, repo: Repo, since: int | None, sort: str, descending: bool, review: bool
    ) -> list[dict[str, Any]]:
        """The whole sorted listing, kept while the repository is unchanged: its pages are
        asked for one after another, and building it is O(comments)."""
        key = (id(repo), repo.count, repo.generation, since, sort, descending, review)
        found = self._listings.get(key)
        if found is None:
            found = self._review_comments(repo, since) if review else self._comments(repo, since)
            field = {"updated": "updatedAt", "created": "createdAt"}.get(sort)
            found.sort(
                key=lambda c: (c[field] if field else "", int(c["fullDatabaseId"])),
                reverse=descending,
            )
            if len(self._listings) >= 8:
                self._listings.pop(next(iter(self._listings)))
            self._listings[key] = found
        return found

    def _comments(self, repo: Repo, since: int | None) -> list[dict[str, Any]]:
        out = []
        for i in range(repo.count):
            comments = repo.comments(i)
            for j in repo.kept("comment", i):
                c = comments[j]
                if since is None or _epoch(c["updatedAt"]) >= since:
                    out.append(c)
        return out

    @staticmethod
    def _review_comments(repo: Repo, since: int | None) -> list[dict[str, Any]]:
        return [
            c
            for i in range(repo.count)
            for c in live_comments(repo, i)
            if since is None or _epoch(c["updatedAt"]) >= since
        ]

    @staticmethod
    def _one_review(repo: Repo, database_id: int) -> dict[str, Any] | None:
        """The live review comment of that REST id (threads.review_comment: base id + PR
        index * 10^6 + thread * 1000 + position)."""
        offset = database_id - (7 * 10**15 + (repo.slot + 1) * 10**12)
        i, rest = divmod(offset, 10**6)
        t, j = divmod(rest, 1000)
        if offset < 0 or i >= repo.count or t >= thread_count(repo, i):
            return None
        if j >= thread(repo, i, t)["_count"]:
            return None
        if t * COMMENT_SPAN + j in repo.deleted.get(("review_comment", i), ()):
            return None
        return review_comment(repo, i, t, j)

    @staticmethod
    def _rest_review(repo: Repo, c: dict[str, Any]) -> dict[str, Any]:
        """A review comment as REST shows it (docs.github.com/rest/pulls/comments: its
        GraphQL twin's fields, REST's names; `pull_request_review_id` and `in_reply_to_id`
        are REST ids)."""
        author = c.get("author")
        number = repo.number(c["_i"])
        api = f"https://api.github.com/repos/{repo.full_name}"
        review = c.get("_review")
        reply_to = c.get("_reply_to")
        out: dict[str, Any] = {
            "url": f"{api}/pulls/comments/{c['fullDatabaseId']}",
            "pull_request_review_id": int(review["fullDatabaseId"]) if review else None,
            "id": int(c["fullDatabaseId"]),
            "node_id": c["id"],
            "diff_hunk": c["diffHunk"],
            "path": c["path"],
            "user": None
            if author is None
            else {"login": author.get("login"), "node_id": author.get("id"), "type": "User"},
            "body": c["body"],
            "created_at": c["createdAt"],
            "updated_at": c["updatedAt"],
            "html_url": c["url"],
            "pull_request_url": f"{api}/pulls/{number}",
            "author_association": c["authorAssociation"],
            "line": c["line"],
            "original_line": c["originalLine"],
            "side": "RIGHT",
            "subject_type": "line",
        }
        if reply_to is not None:
            out["in_reply_to_id"] = int(review_comment(repo, *reply_to)["fullDatabaseId"])
        return out

    @staticmethod
    def _one(repo: Repo, database_id: int) -> dict[str, Any] | None:
        """The live comment of that REST id (data.Children: base id + PR index * 1000 + j)."""
        offset = database_id - ((repo.slot + 1) * 10**13 + 5 * 10**12)
        i, j = divmod(offset, 1000)
        if offset < 0 or i >= repo.count or j >= len(repo.comments(i)):
            return None
        if j not in repo.kept("comment", i):
            return None
        return repo.comments(i)[j]

    @staticmethod
    def _rest(repo: Repo, c: dict[str, Any]) -> dict[str, Any]:
        """A comment as REST shows it (its GraphQL twin's fields, REST's names)."""
        author = c.get("author")
        number = repo.number(c["_i"])
        return {
            "id": int(c["fullDatabaseId"]),
            "node_id": c["id"],
            "html_url": c["url"],
            "issue_url": f"https://api.github.com/repos/{repo.full_name}/issues/{number}",
            "user": None
            if author is None
            else {"login": author.get("login"), "node_id": author.get("id"), "type": "User"},
            "created_at": c["createdAt"],
            "updated_at": c["updatedAt"],
            "author_association": c["authorAssociation"],
            "body": c["body"],
        }

    def _headers(self, budget: RestBudget, extra: dict[str, str]) -> dict[str, str]:
        return {
            "content-type": "application/json; charset=utf-8",
            "x-github-media-type": "github.v3; format=json",
            "x-ratelimit-limit": str(budget.limit),
            "x-ratelimit-remaining": str(max(0, budget.limit - budget.used)),
            "x-ratelimit-used": str(budget.used),
            "x-ratelimit-reset": str(int(budget.reset_at)),
            "x-ratelimit-resource": "core",
        } | extra

    def _answer(
        self,
        status: int,
        budget: RestBudget,
        body: Any,
        extra: dict[str, str] | None = None,
    ) -> R.SimResponse:
        return R.SimResponse(status, self._headers(budget, extra or {}), R.dump(body))


__all__ = ["RestApi", "iso"]
