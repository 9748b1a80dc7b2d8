"""Tests of the command line; :func:`command_paths` walks its whole Typer tree."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer.main

from stackmeter.cli import app


def command_paths(group: Any = None, prefix: tuple[str, ...] = ()) -> Iterator[str]:
    """Yield every command of ``stackmeter`` (groups walked into), as typed: ``"ingest planetlab"``."""
    group = typer.main.get_group(app) if group is None else group
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from command_paths(command, (*prefix, name))
        else:
            yield " ".join((*prefix, name))
