"""Exceptions raised by stackmeter; the CLI and the API translate them at the edge.

StackmeterError
├── SourceError             reading the outside world failed
│   ├── SourceUnavailable   a file, target or server could not be reached or read
│   └── ParseError          input is not what the format says (file, line, field)
├── StoreError              the store refused or failed
│   ├── SchemaOutdated      the store file is newer than this stackmeter
│   ├── StoreNotFound       no store at that location (read commands never create one)
│   └── UnknownEntity       no entity of that id
└── ConfigError             an option, setting or parameter is invalid (``where`` names it)
"""

from __future__ import annotations


class StackmeterError(Exception):
    """Base of every error stackmeter raises on purpose."""


class SourceError(StackmeterError):
    """Reading a source failed."""


class SourceUnavailable(SourceError):
    """A file, target or server could not be reached or read."""


class ParseError(SourceError):
    """Input is not what its format says.

    :param path: the file or target the input came from
    :param line: 1-based line number, when known
    :param field: the field (column, label, key) at fault, when known
    """

    def __init__(self, message: str, path: str = "", line: int | None = None, field: str | None = None):
        self.path = path
        self.line = line
        self.field = field
        where = path if line is None else f"{path}:{line}"
        super().__init__(f"{where}: {message}" if where else message)


class StoreError(StackmeterError):
    """The store refused or failed."""


class SchemaOutdated(StoreError):
    """The store was written by a newer stackmeter than this one."""


class ConfigError(StackmeterError):
    """An option, setting or parameter is invalid.

    :param where: the option, setting or parameter at fault (``--from``, ``share``), when known;
        the API returns it in the error body
    """

    def __init__(self, message: str, where: str | None = None):
        self.where = where
        super().__init__(message)


class StoreNotFound(StoreError):
    """There is no store at the location given, and the command only reads."""


class UnknownEntity(StoreError):
    """The store holds no entity of that id."""
