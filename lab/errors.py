"""The lab's user-facing error: the CLI prints its message as one line and exits non-zero."""


class LabError(Exception):
    """A problem with the user's input or files (not a bug): its message says what and how to fix it."""


class Preempted(LabError):
    """A sweep stopped on SIGTERM after saving its resume checkpoint; running the same command resumes it."""
