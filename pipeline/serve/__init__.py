"""Nightly serving: the champion scores every user, rows written per run date, the published copy."""
