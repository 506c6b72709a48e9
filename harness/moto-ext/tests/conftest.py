"""Starts the extended moto server (``python -m drillbit_moto.server``) once for the test session."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

EXT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(EXT_DIR))  # for the few in-process tests of helpers
ACCOUNT = "123456789012"

#: Short but observable durations, so the transitional states can be asserted too.
TIMINGS = {
    "DRILLBIT_MOTO_GLOBAL_FAILOVER_SECONDS": "0.4",
    "DRILLBIT_MOTO_DDB_REPLICATION_LAG_MS": "600",
    "DRILLBIT_MOTO_BACKUP_JOB_SECONDS": "0.3",
    "DRILLBIT_MOTO_ELASTICACHE_GLOBAL_SECONDS": "0.3",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """URL of a server started from the launcher; terminated at the end of the session."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(TIMINGS, PYTHONPATH=str(EXT_DIR))
    log = (tmp_path_factory.mktemp("server") / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "drillbit_moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=str(tmp_path_factory.getbasetemp()),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"server did not start; see {log.name}")
        time.sleep(0.1)
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def aws(endpoint: str) -> Callable[[str, str], Any]:
    """``aws(service, region)``: a boto3 client of the test server."""

    def make(service: str, region: str) -> Any:
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return make


@pytest.fixture
def name() -> str:
    """A fresh resource name, so tests sharing the server never collide."""
    return "t" + uuid.uuid4().hex[:10]


def wait_for(check: Callable[[], Any], timeout: float = 10.0, every: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(every)
