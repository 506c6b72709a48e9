"""The launcher: moto's own API still answers, the extension's timings are moto state-manager models."""

from __future__ import annotations

import json
import urllib.request

from conftest import TIMINGS


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status, r.read()


def test_moto_api_dashboard_answers(endpoint):
    status, _ = get(f"{endpoint}/moto-api/")
    assert status == 200


def test_durations_are_registered_with_moto_state_manager(endpoint):
    expected = {
        "rds::global-cluster-failover": float(TIMINGS["DRILLBIT_MOTO_GLOBAL_FAILOVER_SECONDS"]),
        "backup::backup-job": float(TIMINGS["DRILLBIT_MOTO_BACKUP_JOB_SECONDS"]),
        "backup::copy-job": float(TIMINGS["DRILLBIT_MOTO_BACKUP_JOB_SECONDS"]),
        "backup::restore-job": float(TIMINGS["DRILLBIT_MOTO_BACKUP_JOB_SECONDS"]),
        "elasticache::global-replication-group": float(
            TIMINGS["DRILLBIT_MOTO_ELASTICACHE_GLOBAL_SECONDS"]
        ),
    }
    for model, seconds in expected.items():
        status, body = get(f"{endpoint}/moto-api/state-manager/get-transition?model_name={model}")
        assert status == 200
        assert json.loads(body) == {"progression": "time", "seconds": seconds}


def test_plain_moto_still_works(aws, name):
    s3 = aws("s3", "us-east-1")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"v")
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"v"
    rds = aws("rds", "us-east-1")
    rds.create_db_cluster(
        DBClusterIdentifier=name,
        Engine="aurora-postgresql",
        MasterUsername="a",
        MasterUserPassword="password123",
    )
    assert (
        rds.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0]["DBClusterIdentifier"]
        == name
    )


def test_env_seconds_and_idempotent_install(monkeypatch):
    import drillbit_moto
    from drillbit_moto._common import env_seconds
    from drillbit_moto.elasticache_global import region_prefix

    monkeypatch.setenv("DRILLBIT_MOTO_TEST_SECONDS", "2.5")
    assert env_seconds("DRILLBIT_MOTO_TEST_SECONDS", 1) == 2.5
    monkeypatch.setenv("DRILLBIT_MOTO_TEST_SECONDS", "soon")
    assert env_seconds("DRILLBIT_MOTO_TEST_SECONDS", 1) == 1
    monkeypatch.setenv("DRILLBIT_MOTO_TEST_SECONDS", "-3")
    assert env_seconds("DRILLBIT_MOTO_TEST_SECONDS", 1) == 0
    assert region_prefix("us-east-1") == "ldgnf"
    assert (
        region_prefix("xx-test-9") == region_prefix("xx-test-9")
        and len(region_prefix("xx-test-9")) == 5
    )

    from moto.rds.responses import RDSResponse

    drillbit_moto.install()
    drillbit_moto.install()
    assert hasattr(RDSResponse, "failover_global_cluster")
    assert RDSResponse._orig_describe_global_clusters is not RDSResponse.describe_global_clusters
