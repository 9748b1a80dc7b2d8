"""Real servers shared by the integration tests, each on a loopback port of its own.

Install them with ``scripts/install-test-deps.sh``. With CI=true a server that cannot start fails
the test; elsewhere it skips.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.integration.exporter_servers import (
    COLLECTORS,
    free_port,
    require,
    start,
    stop,
    wait_for_scrapes,
    wait_until_ready,
    write_scrape_config,
)


@pytest.fixture(scope="session")
def node_exporter(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("node_exporter") / "log"
    command = ["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{port}", *COLLECTORS]
    url = f"http://127.0.0.1:{port}/metrics"
    process = start(command, url, log)
    yield url
    stop(process)


@pytest.fixture(scope="session")
def metric_servers(node_exporter, tmp_path_factory):
    """Prometheus and VictoriaMetrics, both scraping the node_exporter every second: name -> API root."""
    folder = tmp_path_factory.mktemp("servers")
    config = write_scrape_config(folder, node_exporter)
    ports = {"prometheus": free_port(), "victoria-metrics": free_port()}
    commands = {
        "prometheus": [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'prometheus'}",
            f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
        ],
        "victoria-metrics": [
            "victoria-metrics",
            f"-httpListenAddr=127.0.0.1:{ports['victoria-metrics']}",
            f"-storageDataPath={folder / 'victoria-metrics'}",
            f"-promscrape.config={config}",
            "-search.latencyOffset=0s",  # answer up to now, not 30 s ago as by default
            "-retentionPeriod=1d",
        ],
    }
    ready = {"prometheus": "/-/ready", "victoria-metrics": "/health"}
    processes = {}
    try:
        for name, command in commands.items():  # both start at once, then both are waited for
            require(
                shutil.which(command[0]) is not None,
                f"{command[0]} is not installed (scripts/install-test-deps.sh)",
            )
            with (folder / f"{name}.log").open("wb") as output:
                processes[name] = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        for name, url in urls.items():
            wait_until_ready(url + ready[name], processes[name], folder / f"{name}.log")
            wait_for_scrapes(url, 3)
        yield urls
    finally:
        for process in processes.values():
            stop(process)
