"""Errors dss reports to users: each one is a single clear line."""

from __future__ import annotations


class DssError(Exception):
    """Base class of every error dss reports with one line and an exit code."""

    exit_code = 2


class ConfigurationError(DssError):
    """The sync is declared or configured wrongly (exit code 2, nothing imported)."""


class ConfigurationProblems(ConfigurationError):
    """Every problem a handler found checking its mapping against the destination, at once.

    The message is the first problem (one line, and how many more there are);
    :attr:`problems` holds them all, one line each (``dss check`` prints each).
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        more = len(self.problems) - 1
        extra = f" (and {more} more problem{'s' if more > 1 else ''}: dss check lists them)" \
            if more else ""
        super().__init__(self.problems[0] + extra)


class InputError(DssError):
    """A source or destination holds bad data (exit code 2, nothing applied).

    ``where`` names the place (file and line, table row) when it is known;
    ``detail`` is the message without it, and ``column`` the field at fault.
    """

    def __init__(self, message: str, where: object | None = None, column: str | None = None) -> None:
        self.where = where
        self.detail = message
        self.column = column
        super().__init__(f"{where}: {message}" if where else message)


class DuplicateIdError(InputError):
    """Two records of one branch have the same idnumber and cannot be merged."""


class PluginError(DssError):
    """A plugin could not be loaded, or two plugins registered the same name."""


class GateError(DssError):
    """A guard stopped the run before it could do damage (exit code 3, nothing applied).

    Raised by the source gates (an empty, shrunken or narrower export) and the
    deletion and member-loss limits. ``trips`` holds one line per guard that
    tripped; the message joins them.
    """

    exit_code = 3

    def __init__(self, trips: list[str]) -> None:
        self.trips = list(trips)
        super().__init__("\n".join(self.trips))
