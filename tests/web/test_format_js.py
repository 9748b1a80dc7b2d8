"""static/format.js, the charts' writer of numbers and times, against the library's, run in Node.js
(the same engine family as the browser) over a wide spread of values."""

from __future__ import annotations

import json
import random
import shutil
import subprocess

import numpy as np

from stackmeter.export import format_duration, format_minute
from stackmeter.web import STATIC_DIR
from tests.rabbitmq_server import unavailable


def run_format_js(call: str, values: list[float]) -> list[str]:
    """``call`` (an expression over ``f``, the module, and ``v``, one value) for each of ``values``."""
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed")
    script = (
        "globalThis.window = globalThis;\n"
        + (STATIC_DIR / "format.js").read_text()
        + f"\nconst f = window.stackmeterFormat;\nconst values = {json.dumps(values)};\n"
        + f"process.stdout.write(JSON.stringify(values.map((v) => {call})));\n"
    )
    done = subprocess.run([node, "-"], input=script, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def spread() -> list[float]:
    rng = random.Random(11)
    values = [10 ** rng.uniform(-4, 7) for _ in range(3000)]
    values += [
        unit * rng.randint(0, 60) + nudge for unit in (1, 60, 3600, 86400) for nudge in (-0.5, -0.05, 0, 0.5)
    ]
    return values + [0.9996, 59.6, 119.6, 3599.6, 86399.0, -3.0]


def test_durations_are_written_as_the_server_writes_them():
    values = spread()
    assert run_format_js("f.formatDuration(v)", values) == [format_duration(v) for v in values]


def test_times_are_written_as_the_server_writes_them():
    rng = random.Random(5)
    seconds = [rng.randint(0, 7_258_118_400) for _ in range(2000)]
    expected = [format_minute(np.datetime64(s, "s")) for s in seconds]
    assert run_format_js("f.formatTime(v)", seconds) == expected
