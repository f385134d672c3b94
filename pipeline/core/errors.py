"""Errors a user can act on. The CLI prints them as one line, without a traceback."""


class RecsysError(Exception):
    """A problem with the input, the configuration or the state of the warehouse."""
