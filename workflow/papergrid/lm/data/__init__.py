"""Offline, seeded data sources for the language-model core."""
