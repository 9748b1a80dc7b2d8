"""Every command and every setting is documented in the README."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main

from stackmeter.cli import app
from stackmeter.settings import SETTINGS

README = (Path(__file__).parents[1] / "README.md").read_text()


def command_paths(group, prefix=()):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from command_paths(command, (*prefix, name))
        else:
            yield " ".join((*prefix, name))


@pytest.mark.parametrize("command", sorted(command_paths(typer.main.get_command(app))))
def test_command_is_in_the_readme(command):
    assert f"stackmeter {command}" in README


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_setting_is_in_the_readme(setting):
    assert f"| `{setting.name}` |" in README
    assert f"STACKMETER_{setting.name.upper()}" in README


def test_readme_starts_with_the_two_commands():
    first_block = README.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block
