"""The one error type the package raises for a user's mistake."""


class DistillError(Exception):
    """Bad input or an impossible request, with a message that says how to fix it.

    The command line prints the message and exits with status 2; no traceback.
    """


class DivergedError(DistillError):
    """The outer optimization produced a non-finite loss or gradient."""
