"""Errors every part of the product shares."""


class UsageError(Exception):
    """Bad input from the user: the CLI prints it as one line and exits with code 2."""


class RunFailed(Exception):
    """A run that was set up correctly but did not succeed: the CLI exits with code 1."""
