"""Deterministic repositories of any size, generated lazily from (seed, repository, index).

Nothing is stored per pull request: PR `i` (creation order) is a pure function of
`hash(seed, repo, i)`, so a 100,000-PR repository costs nothing to create and the same seed
always yields the same data. Only orderings that need a sort (UPDATED_AT, COMMENTS, filters)
and the review/comment lists of recently used PRs are cached.

Shape, chosen to exercise a backfill: PR numbers interleave with issue numbers (each pair of
numbers holds one PR and one issue); ~3% of authors are deleted (null), ~12% are bots, ~3% are
mannequins, enterprise accounts or organizations (sharing logins with users); ~5% of PRs have
100-450 reviews and/or comments (more than one page), the rest 0-10.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from .config import RepoSpec
from .ids import KINDS, node_id

KINDS_PREFIX = {kind: prefix for kind, (_, prefix) in KINDS.items()}

EPOCH_END = 1_748_736_000  # 2025-06-01T00:00:00Z: the initial history ends here
SPAN = 8 * 365 * 86_400  # ... and spans eight years, whatever the size
USER_POOL = 5_000
_INT32_MAX = 2**31 - 1

FIRST = [
    "ana",
    "bo",
    "chen",
    "dmitri",
    "emeka",
    "fatima",
    "gus",
    "hana",
    "ivan",
    "jo",
    "kenji",
    "lena",
    "maria",
    "nils",
    "olu",
    "priya",
    "quinn",
    "rafael",
    "sara",
    "tomas",
    "uma",
    "vera",
    "wei",
    "xavier",
    "yuki",
    "zoe",
]
LAST = [
    "smith",
    "garcia",
    "kim",
    "nguyen",
    "muller",
    "rossi",
    "silva",
    "novak",
    "sato",
    "ali",
    "kowalski",
    "jensen",
    "okafor",
    "dubois",
    "ivanova",
    "haddad",
    "larsen",
    "moreau",
]
DISPLAY = {
    "ana": "Ana",
    "bo": "Bø",
    "chen": "陈",
    "dmitri": "Дмитрий",
    "emeka": "Emeka",
    "fatima": "فاطمة",
    "zoe": "Zoë",
    "muller": "Müller",
    "ivanova": "Иванова",
}
BOTS = ["dependabot", "renovate", "github-actions", "codecov", "pre-commit-ci", "mergify"]
VERBS = ["Fix", "Add", "Refactor", "Remove", "Improve", "Update", "Document", "Speed up", "Revert"]
THINGS = [
    "cache invalidation",
    "retry logic",
    "CLI flags",
    "unicode handling",
    "the parser",
    "CI workflow",
    "error messages",
    "pagination",
    "memory leak",
    "type hints",
    "dark mode",
    "i18n strings",
    "auth tokens",
    "the scheduler",
    "flaky test",
]
FLAVOURS = [
    "",
    "",
    "",
    " 🚀",
    " (#{n})",
    " — follow-up",
    " ✨",
    " [WIP]",
    " für Umlaute",
    " 修复",
    " ⚠️ breaking",
]
BODIES = [
    "",
    "Closes #{n}.",
    "This PR {verb} {thing}.\n\n- [x] tests\n- [ ] docs",
    "Quick fix, see discussion in #{n}.",
    "Ünïcödé body with emoji 🎉 and `code`.",
    "## Summary\n{verb} {thing}.\n\n## Testing\nRan the suite locally.",
]
REVIEW_BODIES = [
    "",
    "",
    "LGTM",
    "Looks good 👍",
    "Please add a test.",
    "Nit: naming.",
    "Can we avoid the extra allocation here?",
    "🚢 it",
]
COMMENT_BODIES = [
    "Thanks!",
    "Any update on this?",
    "Rebased on main.",
    "CI is green ✅",
    "I think this breaks Windows.",
    "Merci beaucoup 🙏",
    "/cc @maintainers",
]
REVIEW_STATES = ["APPROVED"] * 5 + ["COMMENTED"] * 4 + ["CHANGES_REQUESTED"] * 2 + ["DISMISSED"]
ASSOCIATIONS = (
    ["CONTRIBUTOR"] * 4
    + ["MEMBER"] * 2
    + ["COLLABORATOR", "OWNER", "NONE", "FIRST_TIME_CONTRIBUTOR"]
)
LABELS = [
    ("bug", "d73a4a"),
    ("enhancement", "a2eeef"),
    ("documentation", "0075ca"),
    ("dependencies", "0366d6"),
    ("good first issue", "7057ff"),
    ("help wanted", "008672"),
    ("performance", "fbca04"),
    ("ci", "ededed"),
    ("💥 breaking", "b60205"),
    ("needs-review", "c5def5"),
    ("wontfix", "ffffff"),
    ("refactor", "1d76db"),
]


_DAYS: dict[int, str] = {}


def iso(ts: int) -> str:
    """ISO-8601 UTC, as GitHub's DateTime; dates are cached (strftime dominated profiles)."""
    day, rest = divmod(ts, 86_400)
    prefix = _DAYS.get(day)
    if prefix is None:
        prefix = datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%dT")
        if len(_DAYS) > 100_000:
            _DAYS.clear()
        _DAYS[day] = prefix
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{prefix}{hours:02d}:{minutes:02d}:{seconds:02d}Z"


_MASK = (1 << 64) - 1


def _mix(x: int) -> int:
    """splitmix64's finaliser: a fast, well-spread 64-bit hash of an integer."""
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9 & _MASK
    x = (x ^ (x >> 27)) * 0x94D049BB133111EB & _MASK
    return x ^ (x >> 31)


class Draw:
    """Choices drawn from one 256-bit hash: cheap, deterministic, independent per item."""

    __slots__ = ("v",)

    def __init__(self, *parts: object) -> None:
        key = "|".join(map(str, parts)).encode()
        self.v = int.from_bytes(hashlib.blake2b(key, digest_size=32).digest(), "big")

    @classmethod
    def child(cls, base: int, j: int) -> Draw:
        """Item j of a family whose 64-bit `base` came from a full hash: ~10x cheaper."""
        d = cls.__new__(cls)
        x = base + j * 0x9E3779B97F4A7C15
        d.v = _mix(x) << 64 | _mix(x + 1)
        return d

    def below(self, n: int) -> int:
        self.v, r = divmod(self.v, n)
        return r

    def pick(self, seq: list[Any]) -> Any:
        return seq[self.below(len(seq))]


class Actors:
    """The simulated user base, shared by all repositories of one seed."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._cache: dict[tuple[Any, ...], dict[str, Any]] = {}

    def user(self, u: int) -> dict[str, Any]:
        found = self._cache.get(("u", u))
        if found is not None:
            return found
        d = Draw(self.seed, "user", u)
        first, last = d.pick(FIRST), d.pick(LAST)
        login = f"{first}-{last}{u}"
        name = None if d.below(5) == 0 else f"{DISPLAY.get(first, first.title())} "
        if name is not None:
            name += DISPLAY.get(last, last.title())
        actor = {
            "__typename": "User",
            "_shared": True,
            "id": node_id("user", 0, u),
            "databaseId": 1_000_000 + u * 7 + d.below(7),
            "login": login,
            "name": name,
            "url": f"https://github.com/{login}",
            "resourcePath": f"/{login}",
            "avatarUrl": f"https://avatars.githubusercontent.com/u/{1_000_000 + u}?v=4",
            "createdAt": iso(EPOCH_END - SPAN - d.below(SPAN)),
        }
        self._cache[("u", u)] = actor
        return actor

    def bot(self, b: int) -> dict[str, Any]:
        found = self._cache.get(("b", b))
        if found is not None:
            return found
        login = BOTS[b % len(BOTS)]  # GraphQL reports bots without the "[bot]" suffix
        actor = {
            "__typename": "Bot",
            "_shared": True,
            "id": node_id("bot", 0, b),
            "databaseId": 49_699_333 + b,
            "login": login,
            "url": f"https://github.com/apps/{login}",
            "resourcePath": f"/apps/{login}",
            "avatarUrl": f"https://avatars.githubusercontent.com/in/{29_110 + b}?v=4",
            "createdAt": iso(EPOCH_END - SPAN),
            "updatedAt": iso(EPOCH_END - SPAN // 2),
        }
        self._cache[("b", b)] = actor
        return actor

    def mannequin(self, slot: int, u: int) -> dict[str, Any]:
        """The placeholder a migration into repository `slot`'s organization made for user
        `u`'s past work: it takes the source account's login, so each organization that
        imported that person holds a mannequin of one login, beside the User of that login.
        Only the node id tells them apart."""
        return self._account("Mannequin", "mannequin", slot, u, 70_000_000)

    def enterprise_user(self, slot: int, u: int) -> dict[str, Any]:
        """User `u`'s account in the enterprise of repository `slot`'s organization: the same
        login as the User, one account per enterprise, no databaseId."""
        return self._account("EnterpriseUserAccount", "enterprise_user", slot, u, None)

    def organization(self, u: int) -> dict[str, Any]:
        """An organization as an author (GitHub lists it among Actors)."""
        return self._account("Organization", "org", 0, u, 80_000_000)

    def _account(
        self, typename: str, kind: str, slot: int, u: int, database_base: int | None
    ) -> dict[str, Any]:
        found = self._cache.get((kind, slot, u))
        if found is not None:
            return found
        user = self.user(u)
        login = user["login"] if kind != "org" else f"{user['login']}-org"
        number = (database_base or 0) + slot * USER_POOL + u
        actor: dict[str, Any] = {
            "__typename": typename,
            "_shared": True,
            "id": node_id(kind, slot, u),
            "login": login,
            "url": f"https://github.com/{login}",
            "resourcePath": f"/{login}",
            "avatarUrl": f"https://avatars.githubusercontent.com/u/{number}?v=4",
            "createdAt": user["createdAt"],
            "updatedAt": user["createdAt"],
        }
        if database_base is not None:
            actor["databaseId"] = number
        if kind != "mannequin":
            actor["name"] = user["name"]
        self._cache[(kind, slot, u)] = actor
        return actor

    def pick(self, d: Draw, slot: int, deleted_pct: int = 3, bot_pct: int = 12) -> dict | None:
        """An author: deleted (None), a bot, or a person; of people, 1 in 100 each is seen as
        a mannequin, an enterprise account or an organization, with the logins of users
        (the draws are the same as with users only: the data stays what it was otherwise)."""
        roll = d.below(100)
        if roll < deleted_pct:
            return None
        if roll < deleted_pct + bot_pct:
            return self.bot(d.below(len(BOTS)))
        r = d.below(10_000) / 10_000  # skewed: a few people author most PRs
        u = (slot * 211 + int(600 * r * r * r)) % USER_POOL
        if roll == 99:
            return self.mannequin(slot, u)
        if roll == 98:
            return self.enterprise_user(slot, u)
        if roll == 97:
            return self.organization(u)
        return self.user(u)


class Repo:
    """One simulated repository; PR index i is the i-th oldest pull request."""

    def __init__(self, spec: RepoSpec, slot: int, seed: int, actors: Actors) -> None:
        self.owner, self.name, self.slot, self.seed = spec.owner, spec.name, slot, seed
        self.full_name = f"{spec.owner}/{spec.name}"
        self.key = self.full_name  # what its data is drawn from: a rename keeps the data
        self.initial = spec.prs
        self.count = spec.prs
        self.actors = actors
        self.gap = max(60, SPAN // max(spec.prs, 1))
        self.start = EPOCH_END - spec.prs * self.gap
        self.url = f"https://github.com/{self.full_name}"
        self.id = node_id("repo", slot, 0)
        self._orderings: dict[tuple, Ordering] = {}
        self._lists: OrderedDict[tuple[str, int], Children] = OrderedDict()
        self._meta: dict[int, tuple] = {}
        self.overrides: dict[int, dict[str, Any]] = {}  # PR index -> fields (hostile data)
        # What `evolve` changed: PR index -> metadata fields (see META_FIELDS), and the
        # reviews/comments deleted on GitHub: (kind, PR index) -> positions in the full list.
        self.evolved: dict[int, dict[str, Any]] = {}
        self.deleted: dict[tuple[str, int], set[int]] = {}
        self.evolved_until = 0  # the latest updatedAt an evolution gave (GitHub's clock)
        # Comments edited on GitHub: (kind, PR index, position) -> (body, updatedAt epoch).
        # An edit does not move the PR's updatedAt (GitHub does not promise it does).
        self.edited: dict[tuple[str, int, int], tuple[str, int]] = {}
        self.generation = 0  # moved by every change (touch): what was listed may differ now

    # --- numbers -----------------------------------------------------------------------------

    def number(self, i: int) -> int:
        """PR i owns number 2i+1 or 2i+2; the other number of the pair is an issue."""
        return 2 * i + 1 + (Draw(self.seed, self.key, "n", i).v & 1)

    def index_of(self, number: int) -> tuple[str, int] | None:
        """("pr"|"issue", i) for an existing number, else None."""
        if number < 1:
            return None
        i = (number - 1) // 2
        if i >= self.count:
            return None
        return ("pr", i) if self.number(i) == number else ("issue", i)

    # --- cheap metadata used for sorting and filtering ----------------------------------------

    def meta(self, i: int) -> tuple:
        """(created, updated, closed, merged, state, n_reviews, n_comments, labels)."""
        found = self._meta.get(i)
        if found is not None:
            return found
        d = Draw(self.seed, self.key, "meta", i)
        if i < self.initial:
            created = self.start + i * self.gap + d.below(self.gap // 2 + 1)
        else:
            created = EPOCH_END + (i - self.initial + 1) * self.gap + d.below(self.gap // 2 + 1)
        roll = d.below(100)
        state = "OPEN" if roll < 12 else "CLOSED" if roll < 27 else "MERGED"
        life = 600 + d.below(30 * 86_400)
        closed = None if state == "OPEN" else created + life
        merged = closed if state == "MERGED" else None
        updated = created + life + d.below(7 * 86_400)
        heavy = d.below(100) < 5
        kind = d.below(3)
        n_reviews = 100 + d.below(351) if heavy and kind != 1 else d.below(11)
        n_comments = 100 + d.below(351) if heavy and kind != 0 else d.below(11)
        labels = tuple(sorted({d.below(len(LABELS)) for _ in range(d.below(4))}))
        found = (created, updated, closed, merged, state, n_reviews, n_comments, labels)
        changed = self.evolved.get(i)
        if changed:
            values = dict(zip(META_FIELDS, found, strict=True)) | changed
            found = tuple(values[name] for name in META_FIELDS)
        if len(self._meta) > 300_000:
            self._meta.clear()
        self._meta[i] = found
        return found

    # --- objects --------------------------------------------------------------------------------

    def pull_request(self, i: int) -> dict[str, Any]:
        created, updated, closed, merged, state, n_rev, n_com, labels = self.meta(i)
        d = Draw(self.seed, self.key, "pr", i)
        number = self.number(i)
        author = self.actors.pick(d, self.slot)
        verb, thing = d.pick(VERBS), d.pick(THINGS)
        title = f"{verb} {thing}" + d.pick(FLAVOURS).replace("{n}", str(max(1, number - 7)))
        body = d.pick(BODIES).format(n=max(1, number - 3), verb=verb.lower(), thing=thing)
        head = f"{author['login'] if author else 'ghost'}/{thing.split()[0].lower()}-{number}"
        additions = int(d.below(1000) ** 1.6 / 10) + d.below(5)
        db_id = 3_000_000_000 + self.slot * 2_000_000 + i + 1  # past 2^31, as on GitHub
        url = f"{self.url}/pull/{number}"
        return {
            "__typename": "PullRequest",
            "_repo": self,
            "_i": i,
            "_counts": (n_rev, n_com),
            "_labels": labels,
            "id": node_id("pr", self.slot, i),
            "databaseId": db_id if db_id <= _INT32_MAX else None,
            "fullDatabaseId": str(db_id),
            "number": number,
            "title": title,
            "body": body,
            "state": state,
            "isDraft": state == "OPEN" and d.below(6) == 0,
            "merged": state == "MERGED",
            "closed": state != "OPEN",
            "createdAt": iso(created),
            "updatedAt": iso(updated),
            "closedAt": iso(closed) if closed else None,
            "mergedAt": iso(merged) if merged else None,
            "mergedBy": self.actors.user((self.slot * 211 + d.below(8)) % USER_POOL)
            if merged
            else None,
            "additions": additions,
            "deletions": int(additions * d.below(100) / 100),
            "changedFiles": 1 + d.below(40),
            "baseRefName": "main",
            "headRefName": head,
            "baseRefOid": f"{d.below(16**40):040x}",
            "headRefOid": f"{d.below(16**40):040x}",
            "author": author,
            "authorAssociation": d.pick(ASSOCIATIONS),
            "url": url,
            "permalink": url,
            "resourcePath": f"/{self.full_name}/pull/{number}",
            "totalCommentsCount": n_com,
        } | self.overrides.get(i, {})

    def issue(self, i: int) -> dict[str, Any]:
        """The issue sharing PR i's pair of numbers."""
        created = self.meta(i)[0] - 1
        d = Draw(self.seed, self.key, "issue", i)
        number = 2 * i + 1 + (2 * i + 2 - self.number(i) == 1)
        state = "OPEN" if d.below(3) == 0 else "CLOSED"
        db_id = 900_000_000 + self.slot * 1_000_000 + i
        return {
            "__typename": "Issue",
            "_repo": self,
            "id": node_id("issue", self.slot, i),
            "databaseId": db_id,
            "fullDatabaseId": str(db_id),
            "number": number,
            "title": f"{d.pick(THINGS).capitalize()} is broken",
            "body": d.pick(COMMENT_BODIES),
            "state": state,
            "closed": state == "CLOSED",
            "closedAt": iso(created + 86_400) if state == "CLOSED" else None,
            "createdAt": iso(created),
            "updatedAt": iso(created + 86_400),
            "author": self.actors.pick(d, self.slot),
            "url": f"{self.url}/issues/{number}",
            "resourcePath": f"/{self.full_name}/issues/{number}",
        }

    def kept(self, kind: str, i: int) -> list[int]:
        """Positions of PR i's reviews or comments that still exist (not deleted on GitHub)."""
        items = self.reviews(i) if kind == "review" else self.comments(i)
        gone = self.deleted.get((kind, i))
        if not gone:
            return list(range(len(items)))
        return [j for j in range(len(items)) if j not in gone]

    def touch(self, i: int) -> None:
        """Forget what was cached about PR i (it changed)."""
        self.generation += 1
        self._meta.pop(i, None)
        self._lists.pop(("review", i), None)
        self._lists.pop(("comment", i), None)
        self._orderings.clear()

    def reviews(self, i: int) -> Children:
        return self._children("review", i)

    def comments(self, i: int) -> Children:
        return self._children("comment", i)

    def _children(self, kind: str, i: int) -> Children:
        key = (kind, i)
        found = self._lists.get(key)
        if found is not None:
            self._lists.move_to_end(key)
            return found
        found = Children(self, kind, i)
        self._lists[key] = found
        if len(self._lists) > 4096:
            self._lists.popitem(last=False)
        return found

    def label(self, k: int) -> dict[str, Any]:
        name, color = LABELS[k]
        return {
            "__typename": "Label",
            "_shared": True,
            "id": node_id("label", self.slot, k),
            "name": name,
            "color": color,
            "description": None if k % 3 else f"Issues about {name}",
            "isDefault": k < 7,
            "createdAt": iso(self.start),
            "url": f"{self.url}/labels/{name.replace(' ', '%20')}",
        }

    # --- orderings ------------------------------------------------------------------------------

    def ordering(self, field: str, states: frozenset[str] | None, extra: tuple) -> Ordering:
        """PR indices sorted ascending by (field key, index), optionally filtered."""
        key = (field, states, extra, self.count)
        found = self._orderings.get(key)
        if found is not None:
            return found
        if field == "CREATED_AT" and states is None and not any(extra):
            found = CreationOrder(self.count, self)
        else:
            keep: Sequence[int] = range(self.count)
            if states is not None:
                keep = [i for i in keep if self.meta(i)[4] in states]
            labels, base, head = extra
            if labels:
                wanted = {k for k, (name, _) in enumerate(LABELS) if name in labels}
                keep = [i for i in keep if wanted & set(self.meta(i)[7])]
            if base is not None and base != "main":
                keep = []
            if head is not None:
                keep = [i for i in keep if self.pull_request(i)["headRefName"] == head]
            column = {"CREATED_AT": 0, "UPDATED_AT": 1, "COMMENTS": 6}[field]
            found = SortedOrder(sorted((self.meta(i)[column], i) for i in keep))
        if len(self._orderings) > 64:
            self._orderings.clear()
        self._orderings[key] = found
        return found

    def totals(self) -> tuple[int, int]:
        """(reviews, comments) over all PRs; O(n), for stats only."""
        reviews = comments = 0
        for i in range(self.count):
            m = self.meta(i)
            reviews += m[5]
            comments += m[6]
        for (kind, _), gone in self.deleted.items():
            if kind == "review":
                reviews -= len(gone)
            elif kind == "comment":
                comments -= len(gone)
        return reviews, comments

    def newest_update(self) -> int:
        """The latest updatedAt of any PR (O(n))."""
        newest = self.evolved_until
        for i in range(self.count):
            newest = max(newest, self.meta(i)[1])
        return newest


META_FIELDS = (
    "created", "updated", "closed", "merged", "state", "n_reviews", "n_comments", "labels",
)  # fmt: skip


class Children:
    """A PR's reviews or comments, oldest first, generated item by item on first access (a
    PR with 450 reviews served 100 at a time never builds the other 350)."""

    def __init__(self, repo: Repo, kind: str, i: int) -> None:
        self.repo, self.kind, self.i = repo, kind, i
        meta = repo.meta(i)
        self.created = meta[0]
        self.count = meta[5 if kind == "review" else 6]
        self.number = repo.number(i)
        self.pr_url = f"{repo.url}/pull/{self.number}"
        self.base_id = (repo.slot + 1) * 10**13 + (0 if kind == "review" else 5 * 10**12) + i * 1000
        self.seed = Draw(repo.seed, repo.key, kind, i).v & _MASK
        code = 2 if kind == "review" else 3
        self.id_prefix = KINDS_PREFIX[kind]
        self.id_head = struct.pack(">BHI", code, repo.slot, i)
        self._items: dict[int, dict[str, Any]] = {}

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, j: int) -> dict[str, Any]:
        found = self._items.get(j)
        if found is None:
            if not 0 <= j < self.count:
                raise IndexError(j)
            found = self._items[j] = self._make(j)
        return found

    def __iter__(self):
        return (self[j] for j in range(self.count))

    def _make(self, j: int) -> dict[str, Any]:
        repo = self.repo
        d = Draw.child(self.seed, j)
        at = iso(self.created + 300 * (j + 1) + d.below(240))
        full = self.base_id + j
        raw = self.id_head + j.to_bytes(4, "big")
        item: dict[str, Any] = {
            "_i": self.i,
            "_j": j,
            "_repo": repo,
            "id": self.id_prefix + base64.urlsafe_b64encode(raw).decode().rstrip("="),
            "databaseId": None,  # past 2^31, like GitHub's recent reviews and comments
            "fullDatabaseId": str(full),
            "author": repo.actors.pick(d, repo.slot, bot_pct=4),
            "authorAssociation": d.pick(ASSOCIATIONS),
            "createdAt": at,
            "publishedAt": at,
            "updatedAt": at,
        }
        if self.kind == "review":
            item["__typename"] = "PullRequestReview"
            item["state"] = d.pick(REVIEW_STATES)
            item["submittedAt"] = at
            item["body"] = d.pick(REVIEW_BODIES)
            item["url"] = f"{self.pr_url}#pullrequestreview-{full}"
            item["resourcePath"] = f"/{repo.full_name}/pull/{self.number}#pullrequestreview-{full}"
        else:
            item["__typename"] = "IssueComment"
            item["body"] = d.pick(COMMENT_BODIES)
            item["url"] = f"{self.pr_url}#issuecomment-{full}"
            item["resourcePath"] = f"/{repo.full_name}/pull/{self.number}#issuecomment-{full}"
        edit = repo.edited.get((self.kind, self.i, j))
        if edit is not None:
            item["body"], item["updatedAt"] = edit[0], iso(edit[1])
        return item


class Ordering:
    """An ascending sequence of item indices with keyset lookups by (key, index)."""

    def __len__(self) -> int:
        raise NotImplementedError

    def index_at(self, pos: int) -> int:
        raise NotImplementedError

    def key_of(self, pos: int) -> int:
        raise NotImplementedError

    def count_le(self, key: int, index: int) -> int:
        raise NotImplementedError

    def count_lt(self, key: int, index: int) -> int:
        raise NotImplementedError


class CreationOrder(Ordering):
    """All PRs by creation: creation time grows with the index, so no sort is needed."""

    def __init__(self, n: int, repo: Repo) -> None:
        self.n, self.repo = n, repo

    def __len__(self) -> int:
        return self.n

    def index_at(self, pos: int) -> int:
        return pos

    def key_of(self, pos: int) -> int:
        return self.repo.meta(pos)[0]

    def count_le(self, key: int, index: int) -> int:
        return max(0, min(index + 1, self.n))

    def count_lt(self, key: int, index: int) -> int:
        return max(0, min(index, self.n))


class SortedOrder(Ordering):
    def __init__(self, pairs: list[tuple[int, int]]) -> None:
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def index_at(self, pos: int) -> int:
        return self.pairs[pos][1]

    def key_of(self, pos: int) -> int:
        return self.pairs[pos][0]

    def count_le(self, key: int, index: int) -> int:
        return bisect_right(self.pairs, (key, index))

    def count_lt(self, key: int, index: int) -> int:
        return bisect_left(self.pairs, (key, index))


class ListOrder(Ordering):
    """Children (reviews, comments, labels) in list order; key = position in the full list."""

    def __init__(self, indices: list[int]) -> None:
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices)

    def index_at(self, pos: int) -> int:
        return self.indices[pos]

    def key_of(self, pos: int) -> int:
        return self.indices[pos]

    def count_le(self, key: int, index: int) -> int:
        return bisect_right(self.indices, index)

    def count_lt(self, key: int, index: int) -> int:
        return bisect_left(self.indices, index)
