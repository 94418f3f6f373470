"""The backfill engine: storage, GitHub client, workers, recovery and the GitHub simulator.

Nothing in this package imports textual; the console is one client of it among others
(the CLI, headless workers, scheduled GitHub Actions).
"""

__version__ = "0.1.0"
