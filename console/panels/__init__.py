"""The console's panels, one module each, every one a pure function of the snapshot.

Each panel turns a `core.monitoring.StatsReport` (or, on the detail screen, a
`BackfillDetail`) into plain data and rich Text; `console.view.build_view` gathers the main
screen's panels into one `View`, and the screens only copy it into widgets.
"""
