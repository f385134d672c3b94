"""The nightly exam: the temporal split, the model and every baseline judged alike, reports."""
