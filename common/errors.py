"""Exit codes and the error base class.

Every typed error of the project derives from `SecureMedError` and carries the exit code the CLI
answers with (`exit_code`); the code is translated only at the boundaries (the CLI's exit status,
a DIMSE status in the listener, a gRPC status in delivery). Codes follow sysexits(3), so that
systemd's `RestartPreventExitStatus=78` stops a restart loop on a broken deployment.
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar


class ExitCode(IntEnum):
    """The `securemed` command's exit statuses (README, "Exit codes")."""

    OK = 0
    USAGE = 64  # bad command line
    DATAERR = 65  # bad input data, a rejected report envelope, an input refused by de-identification
    NOINPUT = 66  # an input file or report does not exist
    UNAVAILABLE = 69  # a service or an optional component is unavailable, or the caller is not authorised
    SOFTWARE = 70  # an internal error (a bug): the message names its type only
    CONFIG = 78  # configuration error, including a model bundle that fails verification


class SecureMedError(Exception):
    """Base of every typed error; `exit_code` is what the CLI exits with when it reaches the top.

    Messages never carry patient data: keys, file paths of configuration, UIDs of de-identified
    output at most.
    """

    exit_code: ClassVar[ExitCode] = ExitCode.SOFTWARE


class ConfigError(SecureMedError):
    """A configuration cannot be used; `problems` lists 'dotted.key: message' entries.

    A bad file never falls back to defaults: whoever loads configuration raises this, and the CLI
    prints one line per problem and exits 78.
    """

    exit_code = ExitCode.CONFIG

    def __init__(self, problems: list[str], source: object | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(where + "; ".join(self.problems))


class KeyFileError(SecureMedError):
    """A key file (secret, mapping key, signing or ECIES key) is missing, malformed or readable by
    group/other."""

    exit_code = ExitCode.CONFIG
