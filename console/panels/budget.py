"""The GraphQL budget panel: one budget's figures, or one line per token or installation.

The only panel relative to the console's `now`: a budget's reset is a countdown.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from console.format import format_duration

BUDGET_LINES = 4  # budgets listed by name in the panel; the rest are counted ("+N more")
_INSTALLATION = re.compile(r"installation (\d+) \((.*)\)")


def short_budget_name(name: str) -> str:
    """ "installation 42 (octo-org)" -> "#42 octo-org": the id first, so a narrow panel cuts
    the account, not the number; tokens keep their name ("token 1a2b3c4d")."""
    found = _INSTALLATION.fullmatch(name)
    return f"#{found.group(1)} {found.group(2)}" if found else name


def _budget_style(fraction: float) -> str:
    return "red" if fraction < 0.1 else "yellow" if fraction < 0.3 else "green"


@dataclass(frozen=True)
class BudgetLine:
    """One token's or App installation's budget: whose (never a token), what is left, when
    it is full again."""

    name: str
    remaining: int
    limit: int
    resets_in: float

    @property
    def fraction(self) -> float:
        return self.remaining / self.limit if self.limit else 0.0


@dataclass(frozen=True)
class BudgetView:
    """The GraphQL budgets: with one token its spec metrics, as before; with several tokens
    or App installations each by name (remaining/limit, reset), lowest first, and their sum
    (what the gauge and the sparkline show)."""

    remaining: int
    limit: int
    metrics: dict[str, Any]
    resets_in: float
    tokens: int
    lines: tuple[BudgetLine, ...] = ()
    # REST's budgets (the comment catch-up's), summed: requests left of the hour's limit
    rest: BudgetLine | None = None

    @property
    def fraction(self) -> float:
        return self.remaining / self.limit if self.limit else 0.0

    @property
    def several(self) -> bool:
        return self.tokens > 1

    def shows(self) -> tuple[object, ...]:
        """What `describe` draws, as a value to compare: the reset times as shown (whole
        seconds, minutes, hours), not the float that changes on every poll, so the panel is
        redrawn only when its text would change."""
        lines = tuple(
            (line.name, line.remaining, line.limit, format_duration(line.resets_in))
            for line in self.lines
        )
        m = self.metrics
        figures = (m["percentageUsed"], m["averageCostPerQuery"], m["estimatedQueriesRemaining"])
        rest = self.rest
        rest_shown = (rest.remaining, rest.limit, format_duration(rest.resets_in)) if rest else None
        return (
            (self.tokens, self.remaining, self.limit, format_duration(self.resets_in))
            + (figures if not self.several else lines)
            + (rest_shown,)
        )

    def describe(self) -> RenderableType:
        main = self._describe_several() if self.several else self._describe_one()
        if self.rest is None:
            return main
        rest = Text()
        rest.append("REST ")
        rest.append(f"{self.rest.remaining:,}", style=f"bold {_budget_style(self.rest.fraction)}")
        rest.append(f" / {self.rest.limit:,} requests · ")
        rest.append(f"reset in {format_duration(self.rest.resets_in)}")
        return Group(main, rest)

    def _describe_one(self) -> RenderableType:
        m = self.metrics
        text = Text()
        text.append(f"{self.remaining:,}", style=f"bold {_budget_style(self.fraction)}")
        text.append(f" / {self.limit:,} points · ")
        text.append(f"reset in {format_duration(self.resets_in)}\n", style="bold")
        text.append(f"percentageUsed {m['percentageUsed']}%\n")
        text.append(f"averageCostPerQuery {m['averageCostPerQuery']}\n")
        text.append(f"estimatedQueriesRemaining {m['estimatedQueriesRemaining']:,}")
        return text

    def _describe_several(self) -> RenderableType:
        head = Text()
        head.append(f"{self.remaining:,}", style=f"bold {_budget_style(self.fraction)}")
        head.append(f"/{self.limit:,} points · {self.tokens} budgets")
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column("who", ratio=1, no_wrap=True, overflow="ellipsis")
        table.add_column("left", justify="right", no_wrap=True)
        table.add_column("reset", justify="right", no_wrap=True)
        shown = self.lines[:BUDGET_LINES] if len(self.lines) > BUDGET_LINES + 1 else self.lines
        for line in shown:
            table.add_row(
                Text(short_budget_name(line.name)),  # from the database: never markup
                Text(f"{line.remaining:,}/{line.limit:,}", style=_budget_style(line.fraction)),
                Text(f"↻{format_duration(line.resets_in)}", style="dim"),
            )
        parts: list[RenderableType] = [head, table]
        if len(shown) < len(self.lines):
            more = len(self.lines) - len(shown)
            parts.append(Text(f"… {more} more (backfill-console stats)", style="dim"))
        return Group(*parts)


def budget_view(everything: Sequence[dict[str, Any]], now: datetime) -> BudgetView | None:
    """The GraphQL budgets' view, with REST's (`resource` "rest") summed on a line of its own."""
    budgets = [b for b in everything if b.get("resource", "graphql") == "graphql"]
    rests = [b for b in everything if b.get("resource") == "rest"]
    rest = None
    if rests:
        rest = BudgetLine(
            name="REST",
            remaining=sum(int(b["remaining"]) for b in rests),
            limit=sum(int(b["limit"]) for b in rests),
            resets_in=max(
                0.0,
                min((datetime.fromisoformat(b["resetAt"]) - now).total_seconds() for b in rests),
            ),
        )
    if not budgets:
        return None
    newest = max(budgets, key=lambda b: b["observedAt"])

    def resets_in(budget: dict[str, Any]) -> float:
        return (datetime.fromisoformat(budget["resetAt"]) - now).total_seconds()

    def left(budget: dict[str, Any]) -> int:
        # A reset that has come means a full budget, whatever was last reported before it.
        return int(budget["limit"] if resets_in(budget) <= 0 else budget["remaining"])

    lines = tuple(
        sorted(
            (
                BudgetLine(
                    name=str(b.get("name") or b["tokenFingerprint"]),
                    remaining=left(b),
                    limit=int(b["limit"]),
                    resets_in=max(0.0, resets_in(b)),
                )
                for b in budgets
            ),
            key=lambda line: (line.fraction, line.name),
        )
    )
    if len(budgets) == 1:
        return BudgetView(
            remaining=newest["remaining"],
            limit=newest["limit"],
            metrics=newest,
            resets_in=resets_in(newest),
            tokens=1,
            lines=lines,
            rest=rest,
        )
    return BudgetView(
        remaining=sum(line.remaining for line in lines),
        limit=sum(line.limit for line in lines),
        metrics=newest,
        resets_in=min(line.resets_in for line in lines),
        tokens=len(budgets),
        lines=lines,
        rest=rest,
    )
