"""Metric functions and the one catalogue of metric names, tasks and directions."""
