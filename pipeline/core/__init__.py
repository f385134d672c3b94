"""Foundations every stage uses: settings, errors, the run-date rule, the warehouse connection."""
