"""The progressive backfill: registering repositories and the workers that walk their PRs."""
