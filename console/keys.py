"""Every console command once: the footer, the bindings, the command palette and the help
screen are all built from this table, so they cannot disagree."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Command:
    id: str  # the action name and the binding id users remap (`--keys recover_live=R`)
    key: str
    label: str  # short, for the footer
    help: str  # one sentence, for the palette and the help screen
    control: bool = False  # changes something: hidden under --readonly
    footer: bool = True
    screen: str = "main"  # "main": everywhere (app bindings); "detail": the detail screen's
    # Acts on the selected repository: only where one is selected, the repositories table
    # focused or a detail screen open (not with the event log focused, say).
    row: bool = False
    # In the footer under 110 columns too. Not all fit at 80: the keys to look around (sort,
    # state, log, filter, help) stay; the ones acting on a row, freeze and workers go (the
    # help screen and the palette list every key).
    narrow: bool = True

    def binding(self) -> Binding:
        return Binding(self.key, self.id, self.label, show=self.footer, id=self.id)


COMMANDS: tuple[Command, ...] = (
    Command(
        "detail", "enter", "Details", "Open the selected repository's details and chunks", row=True
    ),
    Command("back", "escape", "Back", "Back from the details to every repository", screen="detail"),
    Command(
        "recover_plan_here",
        "d",
        "Dry run",
        "Recovery dry run limited to the repository on screen",
        screen="detail",
    ),
    Command("add", "a", "Add", "Add repositories and start backfilling them", control=True),
    Command(
        "start_worker",
        "w",
        "Worker+",
        "Start a local worker process (it keeps running after the console quits)",
        control=True,
        narrow=False,
    ),
    Command(
        "stop_worker",
        "s",
        "Worker-",
        "Stop the newest local worker (it finishes the page in hand first)",
        control=True,
        narrow=False,
    ),
    Command("recover_plan", "d", "Dry run", "Recovery dry run: show what recovery would do"),
    Command(
        "recover_live",
        "r",
        "Recover",
        "Recover stuck chunks LIVE, after a confirmation listing them",
        control=True,
    ),
    Command(
        "toggle_pause",
        "p",
        "Pause",
        "Pause or resume the selected backfill",
        control=True,
        row=True,
        narrow=False,
    ),
    Command(
        "retry",
        "t",
        "Retry",
        "Retry the selected failed backfill from its stored cursor",
        control=True,
        row=True,
        narrow=False,
    ),
    Command(
        "sync_now",
        "n",
        "Sync",
        "Sync the selected completed repository with GitHub now (a running worker does it)",
        control=True,
        row=True,
        narrow=False,
    ),
    Command(
        "remove",
        "x",
        "Remove",
        "Remove the selected repository and its data, after a confirmation counting it",
        control=True,
        row=True,
        narrow=False,
    ),
    Command(
        "sort",
        "o",
        "Sort",
        "Sort by the next key: attention (failed, stuck, waiting first), name, progress, "
        "rate, ETA, status",
    ),
    Command(
        "state_filter",
        "v",
        "State",
        "Show one state only: failed, stuck, waiting, active, syncing, pending, paused, "
        "completed, all",
    ),
    Command("event_log", "e", "Log", "Open this session's whole event log, searchable"),
    Command("freeze", "f", "Freeze", "Freeze or unfreeze the view (polling stops)", narrow=False),
    Command("faster", "plus", "Faster", "Refresh more often", footer=False),
    Command("slower", "minus", "Slower", "Refresh less often", footer=False),
    Command("filter", "slash", "Filter", "Show only repositories whose name contains a text"),
    Command("help", "question_mark", "Help", "Show every key and what it does"),
    Command("quit", "q", "Quit", "Quit the console (workers keep running)"),
)

BY_ID = {command.id: command for command in COMMANDS}
MAIN = tuple(command for command in COMMANDS if command.screen == "main")
DETAIL = tuple(command for command in COMMANDS if command.screen == "detail")


def parse_keymap(text: str) -> dict[str, str]:
    """`recover_live=R,quit=ctrl+q` -> {'recover_live': 'R', 'quit': 'ctrl+q'}, checked."""
    keymap: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        command, sep, key = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{item!r}: expected COMMAND=KEY, e.g. recover_live=R")
        if command.strip() not in BY_ID:
            known = ", ".join(BY_ID)
            raise ValueError(f"unknown command {command.strip()!r}; commands: {known}")
        keymap[command.strip()] = key.strip()
    return keymap
