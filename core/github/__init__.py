"""Talking to GitHub's GraphQL API (client, cost rule)."""
