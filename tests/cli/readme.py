"""What the README's cog blocks run: real commands on the test fixtures and the bundled sample.

``cog -r README.md`` rewrites the blocks, ``cog --check README.md`` (tests/test_docs.py) fails when
one is stale. Commands run in one temporary folder, in the README's order, where ``traces/bitbrains``
is the Bitbrains excerpt of ``tests/fixtures``; trailing spaces of Rich's tables are dropped.
"""

from __future__ import annotations

import atexit
import contextlib
import shlex
import shutil
import tempfile
from pathlib import Path

import cog
from typer.testing import CliRunner

from stackmeter.cli import app
from stackmeter.settings import SETTINGS, environment_variable

FIXTURES = Path(__file__).parents[1] / "fixtures"
_folder: Path | None = None


def _workdir() -> Path:
    """Return the folder the README's commands run in, made on first use."""
    global _folder
    if _folder is None:
        _folder = Path(tempfile.mkdtemp(prefix="stackmeter-readme-"))
        atexit.register(shutil.rmtree, _folder, True)
        (_folder / "traces").mkdir()
        (_folder / "traces" / "bitbrains").symlink_to(FIXTURES / "bitbrains")
    return _folder


# The README shows the defaults: settings a developer has in the environment are left out.
_NO_SETTINGS: dict[str, str | None] = {environment_variable(setting.name): None for setting in SETTINGS}


def output(command: str, fence: str = "") -> None:
    """Write to the README what ``command`` (``stackmeter …``) prints on stdout, in a code block."""
    words = shlex.split(command)
    assert words[0] == "stackmeter", command
    with contextlib.chdir(_workdir()):
        result = CliRunner().invoke(app, words[1:], env=_NO_SETTINGS)
    assert result.exit_code == 0, (command, result.output)
    cog.outl(f"```{fence}")
    for line in result.stdout.splitlines():
        cog.outl(line.rstrip())
    cog.outl("```")


def run(command: str) -> None:
    """Run ``command`` for what later blocks show, printing nothing into the README."""
    words = shlex.split(command)
    with contextlib.chdir(_workdir()):
        result = CliRunner().invoke(app, words[1:], env=_NO_SETTINGS)
    assert result.exit_code == 0, (command, result.output)


def settings_table() -> None:
    """Write the settings table: name, default, meaning and environment variable of each setting."""
    cog.outl("| setting | default | meaning |")
    cog.outl("|---|---|---|")
    for setting in SETTINGS:
        default = f"`{setting.default_text}`" if setting.default_text else "none"
        never = "; never logged" if setting.secret else ""
        cog.outl(
            f"| `{setting.name}` | {default} | {setting.help} (`{environment_variable(setting.name)}`){never} |"
        )
