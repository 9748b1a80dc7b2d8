"""Human units into base units."""

import pytest

from stackmeter.errors import ConfigError
from stackmeter.units import parse_bytes_per_second, parse_duration_seconds


@pytest.mark.parametrize(
    "text, bytes_per_second",
    [
        ("100MiB/s", 100 * 2**20),
        ("1Gbit/s", 125e6),
        ("10Gbps", 1.25e9),
        ("250MB/s", 250e6),
        ("8b/s", 1),
        ("1.5KiB/s", 1536),
    ],
)
def test_rates(text, bytes_per_second):
    assert parse_bytes_per_second(text) == bytes_per_second


@pytest.mark.parametrize("text", ["fast", "100", "100MiB", "0MB/s", "-1MB/s", "1 XB/s"])
def test_bad_rates_say_what_is_expected(text):
    with pytest.raises(ConfigError, match="rate"):
        parse_bytes_per_second(text)


@pytest.mark.parametrize(
    "text, seconds", [("15s", 15), ("10m", 600), ("1h", 3600), ("500ms", 0.5), ("2d", 172800)]
)
def test_durations(text, seconds):
    assert parse_duration_seconds(text) == seconds


def test_bad_duration():
    with pytest.raises(ConfigError, match="duration"):
        parse_duration_seconds("soon")
