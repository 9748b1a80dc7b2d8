"""Every command and every setting is documented in the README, and its output blocks are current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stackmeter.settings import SETTINGS
from tests.cli import command_paths

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("command", sorted(command_paths()))
def test_command_is_in_the_readme(command):
    assert f"stackmeter {command}" in README


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_setting_is_in_the_readme(setting):
    assert f"| `{setting.name}` |" in README
    assert f"STACKMETER_{setting.name.upper()}" in README


def test_readme_starts_with_the_two_commands():
    first_block = README.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block


def test_readme_outputs_are_what_the_commands_print():
    """The blocks between cog markers are the real output; `cog -r README.md` rewrites them."""
    checked = subprocess.run(
        [sys.executable, "-m", "cogapp", "--check", "README.md"], cwd=ROOT, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
