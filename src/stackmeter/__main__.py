"""``python -m stackmeter`` runs the command line, like ``stackmeter``."""

from stackmeter.cli import app

app(prog_name="stackmeter")
