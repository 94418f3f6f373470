"""The budget panel's numbers with several tokens/App installations."""

from __future__ import annotations

from console.panels.budget import BUDGET_LINES, budget_view, short_budget_name
from tests.support.console_fixed import NOW, installation_budgets


def test_every_budget_by_name_lowest_first_and_their_sum() -> None:
    budgets = installation_budgets()
    view = budget_view(budgets, NOW)
    assert view is not None and view.several and view.tokens == 6
    assert (view.remaining, view.limit) == (13_080, 37_500)
    names = [line.name for line in view.lines]
    assert names[0] == "installation 43 (kernel)"  # the spent one first
    assert sorted(names) == sorted(b["name"] for b in budgets)
    assert view.resets_in == 3 * 60


def test_a_budget_whose_reset_has_come_counts_as_full() -> None:
    budgets = installation_budgets()
    view = budget_view(budgets, NOW.replace(hour=16))
    assert view is not None
    assert view.remaining == view.limit == 37_500


def test_up_to_five_are_all_listed_then_four_and_a_count() -> None:
    from rich.console import Console

    def shown(budgets: list) -> str:
        view = budget_view(budgets, NOW)
        assert view is not None
        console = Console(width=60, record=True)
        console.print(view.describe())
        return console.export_text()

    five = shown(installation_budgets()[:5])
    assert "more" not in five and all(f"#{i}" in five for i in range(41, 46))
    six = shown(installation_budgets())
    assert f"… {6 - BUDGET_LINES} more" in six


def test_installation_names_keep_their_number_first() -> None:
    assert short_budget_name("installation 42 (octo-org)") == "#42 octo-org"
    assert short_budget_name("token 1a2b3c4d") == "token 1a2b3c4d"


def test_rest_budgets_are_summed_on_a_line_of_their_own() -> None:
    from rich.console import Console

    graphql = installation_budgets()[:2]
    rest = [
        dict(b, resource="rest", name=f"{b['name']} (REST)", remaining=4_900, limit=5_000)
        for b in graphql
    ]
    view = budget_view(graphql + rest, NOW)
    assert view is not None and view.tokens == 2  # GraphQL's budgets alone
    assert view.rest is not None and (view.rest.remaining, view.rest.limit) == (9_800, 10_000)
    console = Console(width=60, record=True)
    console.print(view.describe())
    assert "REST 9,800 / 10,000 requests" in console.export_text()
    assert budget_view(graphql, NOW).rest is None  # type: ignore[union-attr]
