"""Measured consolidation: AITF, AOTF, migrations and energy of OpenStack Neat runs, against the raw
records (plain csv loops here) and the published figures of the Neat paper's experiments."""

from __future__ import annotations

import csv
import gzip
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

from stackmeter.analysis.measured import flag_time_us, measure_run, model_energy_kwh
from stackmeter.models.consolidation import HostFlags
from stackmeter.sources.neat import load_neat_run
from tests.reference import FIXTURES

RUN = FIXTURES / "neat" / "thr-0.8-1"
DATA = Path(os.environ.get("STACKMETER_DATA", Path(__file__).parents[3] / "shared" / "data"))
RUNS = DATA / "openstack_neat_testbed" / "runs"

# The published figures of the OpenStack Neat experiments (beloglazov/ccpe-2014-experiments,
# results/metrics.csv: AITF, AOTF, VM migrations), each over the 24 h from the start that
# results/do-all.sh gives, in the testbed's clock.
PUBLISHED = {
    "mhod-0.8-0.20-0.8-1": ("2013-02-13 19:58:33", 0.374097222222, 0.150675875587, 160),
    "mhod-0.8-0.20-0.8-2": ("2013-02-18 12:19:33", 0.375572916667, 0.159238561274, 156),
    "mhod-0.8-0.20-0.8-3": ("2013-02-20 10:37:44", 0.380749421296, 0.170489643153, 159),
    "mhod-0.8-0.30-0.8-1": ("2013-04-08 22:20:46", 0.382297453704, 0.182313868408, 128),
    "mhod-0.8-0.30-0.8-2": ("2013-04-12 14:19:26", 0.38193287037, 0.174125952698, 122),
    "mhod-0.8-0.30-0.8-3": ("2013-04-14 17:22:06", 0.379184027778, 0.180019948358, 164),
    "mhod-0.8-0.40-0.8-1": ("2013-04-23 14:38:07", 0.389858217593, 0.201631375525, 148),
    "mhod-0.8-0.40-0.8-2": ("2013-04-27 10:20:16", 0.418006365741, 0.23524264556, 77),
    "mhod-0.8-0.40-0.8-3": ("2013-04-28 15:51:08", 0.41224537037, 0.203827143476, 124),
    "lrr-0.9-1": ("2013-02-27 10:22:20", 0.473512731481, 0.323202567682, 29),
    "lrr-0.9-2": ("2013-03-04 21:49:07", 0.46443287037, 0.340468523761, 30),
    "lrr-0.9-3": ("2013-03-02 12:11:08", 0.481316550926, 0.367689964688, 26),
    "lrr-1.0-1": ("2013-02-22 16:57:53", 0.399476273148, 0.22774777032, 107),
    "lrr-1.0-2": ("2013-02-24 11:25:07", 0.412618634259, 0.246424859236, 85),
    "lrr-1.0-3": ("2013-02-25 18:46:03", 0.396397569444, 0.239653891326, 89),
    "lrr-1.1-1": ("2013-03-06 11:42:44", 0.379146412037, 0.199066025997, 197),
    "lrr-1.1-2": ("2013-03-08 20:58:56", 0.379661458333, 0.160078175653, 180),
    "lrr-1.1-3": ("2013-03-11 13:51:37", 0.379542824074, 0.173217366973, 210),
    "thr-0.8-1": ("2013-03-13 11:08:26", 0.36923900463, 0.149019913666, 162),
    "thr-0.8-2": ("2013-03-15 09:45:42", 0.363405671296, 0.145640820519, 167),
    "thr-0.8-3": ("2013-03-18 13:23:49", 0.37372974537, 0.167252667033, 174),
    "thr-0.9-1": ("2013-03-19 15:56:06", 0.429722222222, 0.270209246631, 73),
    "thr-0.9-2": ("2013-03-21 14:22:36", 0.428483796296, 0.263998865915, 76),
    "thr-0.9-3": ("2013-03-22 16:52:13", 0.432118055556, 0.27364720269, 77),
    "thr-1.0-1": ("2013-03-25 13:48:19", 0.49326099537, 0.410674417144, 12),
    "thr-1.0-2": ("2013-03-26 18:30:37", 0.493425925926, 0.391496070188, 11),
    "thr-1.0-3": ("2013-03-28 10:46:12", 0.492934027778, 0.462685885804, 11),
    "max-idf-1": ("2013-04-02 11:20:30", 0.492497106481, 0.383504472812, 13),
    "max-idf-2": ("2013-04-03 21:18:23", 0.491756365741, 0.419433073914, 17),
    "max-idf-3": ("2013-04-07 18:31:57", 0.492566550926, 0.407557778171, 12),
}
# The published energy figures (results/energy.txt): the model at each policy's mean AITF and
# AOTF over its three runs (results/do-energy-all.sh), consolidated and with every host on, kWh.
PUBLISHED_ENERGY = [
    ("THR-0.8", 0.36879, 0.15397, 25.987130496, 34.64584704),
    ("THR-0.9", 0.43011, 0.26929, 24.009796224, 33.79815936),
    ("THR-1.0", 0.493207, 0.4216, 22.0914484608, 32.925906432),
    ("LRR-1.1", 0.379450, 0.1775, 25.65542208, 34.4984832),
    ("LRR-1.0", 0.40283, 0.23794, 24.958430592, 34.17527808),
    ("LRR-0.9", 0.47309, 0.3438, 22.602016896, 33.20400384),
    ("MHOD-0.2", 0.37681, 0.16013, 25.697679744, 34.53497856),
    ("MHOD-0.3", 0.381138, 0.17882, 25.5945814272, 34.475148288),
    ("MHOD-0.4", 0.40670, 0.2136, 24.72436608, 34.1217792),
    ("MAX-ITF", 0.492273, 0.4035, 22.0650832512, 32.938818048),
]


class Reference(NamedTuple):
    aitf: float
    aotf: float
    migrations: int


def _time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S")


def reference_metrics(folder: Path, start_text: str, hours: float = 24) -> Reference:
    """AITF, AOTF and migrations of a run folder's raw database tables, in the testbed's clock:
    each host starts active and not overloaded and holds each record (in id order, inside the
    window, both ends included) until the next."""
    start = _time(start_text)
    end = start + timedelta(hours=hours)

    def table(name: str) -> list[dict]:
        with open(folder / "db" / f"{name}.csv", newline="") as handle:
            return list(csv.DictReader(handle))

    host_ids = [row["id"] for row in table("hosts")]

    def seconds_in(name: str, column: str, initial: str, wanted: str) -> float:
        records = sorted(table(name), key=lambda row: int(row["id"]))
        total = 0.0
        for host in host_ids:
            since, value = start, initial
            for row in records:
                moment = _time(row["timestamp"])
                if row["host_id"] != host or not start <= moment <= end:
                    continue
                if value == wanted:
                    total += (moment - since).total_seconds()
                since, value = moment, row[column]
            if value == wanted:
                total += (end - since).total_seconds()
        return total

    host_time = len(host_ids) * (end - start).total_seconds()
    asleep = seconds_in("host_states", "state", "1", "0")
    overloaded = seconds_in("host_overload", "overload", "0", "1")
    migrations = sum(1 for row in table("vm_migrations") if start <= _time(row["timestamp"]) <= end)
    return Reference(asleep / host_time, overloaded / (host_time - asleep), migrations)


def test_the_fixture_run_measures_as_its_raw_records_and_as_published():
    measured = measure_run(load_neat_run(RUN).records)
    start, aitf, aotf, migrations = PUBLISHED["thr-0.8-1"]
    reference = reference_metrics(RUN, start)
    assert measured.aitf == pytest.approx(reference.aitf, abs=1e-12)
    assert measured.aotf == pytest.approx(reference.aotf, abs=1e-12)
    assert measured.migrations == reference.migrations
    assert abs(measured.aitf - aitf) < 1e-9 and abs(measured.aotf - aotf) < 1e-9
    assert measured.migrations == migrations and measured.hosts == 4


def test_energy_is_the_published_model_of_the_measured_fractions():
    measured = measure_run(load_neat_run(RUN).records)
    reference = reference_metrics(RUN, PUBLISHED["thr-0.8-1"][0])
    hours = 4 * 24
    expected = hours * (
        450 * reference.aotf + 414 * (1 - reference.aitf - reference.aotf) + 10.4 * reference.aitf
    )
    all_on = hours * (270 + 0.8 * (1 - reference.aitf) * 180)
    assert measured.energy_kwh == pytest.approx(expected / 1000, rel=1e-12)
    assert measured.energy_all_on_kwh == pytest.approx(all_on / 1000, rel=1e-12)
    assert measured.energy_saved == pytest.approx(1 - expected / all_on, rel=1e-12)


@pytest.mark.parametrize("policy, aitf, aotf, energy_kwh, all_on_kwh", PUBLISHED_ENERGY)
def test_the_energy_model_gives_the_published_figures(policy, aitf, aotf, energy_kwh, all_on_kwh):
    consolidated, everything_on = model_energy_kwh(aitf, aotf, host_hours=4 * 24)
    assert consolidated == pytest.approx(energy_kwh, abs=1e-9)
    assert everything_on == pytest.approx(all_on_kwh, abs=1e-9)


def test_the_store_keeps_a_run_whole(store):
    records = load_neat_run(RUN).records
    store.write_consolidation_run(records)
    store.write_consolidation_run(records)  # again: replaced, not doubled
    assert store.read_consolidation_runs() == ["thr-0.8-1"]
    back = store.read_consolidation_run("thr-0.8-1")
    assert back.window_start == records.window_start and back.window_end == records.window_end
    assert sorted(back.hosts) == sorted(records.hosts)
    for got, wrote in ((back.host_states, records.host_states), (back.overloads, records.overloads),
                       (back.migrations, records.migrations)):  # fmt: skip
        order = np.argsort(wrote.seq)
        for column_back, column in zip(got, wrote, strict=True):
            assert column_back.tolist() == column[order].tolist()
    assert measure_run(back) == measure_run(records)
    assert store.read_consolidation_run("no-such-run") is None


def test_a_projects_reader_sees_no_run(store):
    store.write_consolidation_run(load_neat_run(RUN).records)
    with store.reader("alpha") as reader:
        assert reader.read_consolidation_runs() == [] and reader.read_consolidation_run("thr-0.8-1") is None


def _flags(*records: tuple[int, str, int, bool]) -> HostFlags:
    seq, host, minute, flag = zip(*records, strict=True) if records else ((), (), (), ())
    return HostFlags(
        np.array(seq, dtype=np.int64),
        np.array(host, dtype=object),
        np.array(minute, dtype=np.int64).astype("datetime64[m]").astype("datetime64[ns]"),
        np.array(flag, dtype=bool),
    )


# Minutes from 0 to 60, on hosts a and b; counting the minutes the flag is False (asleep), hosts
# starting active (True).
@pytest.mark.parametrize(
    "records, asleep_minutes",
    [
        ((), 0),
        (((1, "a", 10, False),), 50),
        (((1, "a", 10, False), (2, "a", 30, True)), 20),
        (((1, "a", 10, False), (2, "b", 20, False), (3, "a", 30, True)), 20 + 40),
        (((1, "a", -5, False), (2, "a", 30, True)), 0),  # before the window: not read
        (((1, "a", 10, False), (2, "a", 61, True)), 50),  # after it: not read either
        (((1, "a", 10, False), (2, "a", 60, True)), 50),  # at its end: read (and changes nothing)
        (((2, "a", 30, True), (1, "a", 10, False)), 20),  # database order, not the order of the table
        # a record dated before the one written before it: a negative stretch, as the published scripts count it
        (((1, "a", 30, False), (2, "a", 10, True)), -20),
        (((1, "c", 10, False),), 0),  # not a host of the run
    ],
)
def test_time_in_a_state_holds_each_record_until_the_next(records, asleep_minutes):
    start, end = np.datetime64(0, "m"), np.datetime64(60, "m")
    total = flag_time_us(_flags(*records), ["a", "b"], start, end, initial=True, counted=False)
    assert total == asleep_minutes * 60_000_000


@pytest.mark.skipif(not RUNS.is_dir(), reason="the Neat testbed data is not beside the repository")
@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_every_published_run_measures_as_published(name):
    start, aitf, aotf, migrations = PUBLISHED[name]
    measured = measure_run(load_neat_run(RUNS / name).records)
    assert abs(measured.aitf - aitf) < 1e-9 and abs(measured.aotf - aotf) < 1e-9
    assert measured.migrations == migrations
    window_start = np.datetime64(_time(start), "ns") - np.timedelta64(measured_offset(name), "s")
    assert measured.window_start == window_start


def measured_offset(name: str) -> int:
    """The testbed clock's offset from UTC in a run, from its first VM reading with both clocks."""
    with gzip.open(RUNS / name / "vm_cpu_samples.csv.gz", "rt", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["cur_time_epoch_s"]:
                logged = _time(row["log_time"].split(",")[0]) - datetime(1970, 1, 1)
                return round((logged.total_seconds() - float(row["cur_time_epoch_s"])) / 900) * 900
    raise AssertionError(name)
