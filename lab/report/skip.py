"""The exception a report figure raises when it does not apply to a run."""


class Skip(Exception):
    """A figure that does not apply to this run; its message says why (one line in index.md)."""
