"""FailoverGlobalCluster / SwitchoverGlobalCluster against the extended moto server."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from conftest import ACCOUNT, wait_for

PRIMARY, SECONDARY = "us-west-2", "us-east-2"


def cluster_arn(region: str, cluster: str) -> str:
    return f"arn:aws:rds:{region}:{ACCOUNT}:cluster:{cluster}"


@pytest.fixture
def global_db(aws, name):
    """drillbit's provisioning: global cluster and primary in PRIMARY, a secondary without
    credentials in SECONDARY."""
    p, s = aws("rds", PRIMARY), aws("rds", SECONDARY)
    p.create_global_cluster(GlobalClusterIdentifier=name, Engine="aurora-postgresql")
    p.create_db_cluster(
        DBClusterIdentifier=f"{name}-p",
        Engine="aurora-postgresql",
        GlobalClusterIdentifier=name,
        MasterUsername="admin",
        MasterUserPassword="password123",
    )
    s.create_db_cluster(
        DBClusterIdentifier=f"{name}-s", Engine="aurora-postgresql", GlobalClusterIdentifier=name
    )
    return name, p, s


def members(client, name):
    gc = client.describe_global_clusters(GlobalClusterIdentifier=name)["GlobalClusters"]
    assert len(gc) == 1
    return {m["DBClusterArn"]: m for m in gc[0]["GlobalClusterMembers"]}, gc[0]


def test_failover_from_secondary_region_moves_writer(global_db):
    name, p, s = global_db
    p_arn, s_arn = cluster_arn(PRIMARY, f"{name}-p"), cluster_arn(SECONDARY, f"{name}-s")
    before, _ = members(s, name)
    assert before[p_arn]["IsWriter"] and not before[s_arn]["IsWriter"]

    out = s.failover_global_cluster(
        GlobalClusterIdentifier=name, TargetDbClusterIdentifier=s_arn, AllowDataLoss=True
    )
    gc = out["GlobalCluster"]
    assert gc["Status"] == "failing-over"
    assert gc["FailoverState"] == {
        "Status": "failing-over",
        "FromDbClusterArn": p_arn,
        "ToDbClusterArn": s_arn,
        "IsDataLossAllowed": True,
    }
    # while it runs, the promoted cluster is not yet available
    assert (
        s.describe_db_clusters(DBClusterIdentifier=f"{name}-s")["DBClusters"][0]["Status"]
        == "failing-over"
    )

    wait_for(lambda: members(s, name)[1]["Status"] == "available")
    for client in (p, s):  # any region answers, the primary's included
        after, gc = members(client, name)
        assert after[s_arn]["IsWriter"] and not after[p_arn]["IsWriter"]
        assert after[s_arn]["Readers"] == [p_arn]
        assert after[p_arn]["Readers"] == []
        assert after[p_arn]["SynchronizationStatus"] == "connected"
        assert "FailoverState" not in gc
    assert (
        s.describe_db_clusters(DBClusterIdentifier=f"{name}-s")["DBClusters"][0]["Status"]
        == "available"
    )


def test_switchover_back_and_failover_without_data_loss_is_a_switchover(global_db):
    name, p, s = global_db
    p_arn, s_arn = cluster_arn(PRIMARY, f"{name}-p"), cluster_arn(SECONDARY, f"{name}-s")
    # FailoverGlobalCluster without AllowDataLoss defaults to a switchover (API reference)
    gc = s.failover_global_cluster(GlobalClusterIdentifier=name, TargetDbClusterIdentifier=s_arn)[
        "GlobalCluster"
    ]
    assert gc["Status"] == "switching-over" and gc["FailoverState"]["IsDataLossAllowed"] is False
    wait_for(lambda: members(s, name)[0][s_arn]["IsWriter"])

    gc = p.switchover_global_cluster(GlobalClusterIdentifier=name, TargetDbClusterIdentifier=p_arn)[
        "GlobalCluster"
    ]
    assert gc["Status"] == "switching-over"
    assert (
        gc["FailoverState"]["FromDbClusterArn"] == s_arn
        and gc["FailoverState"]["ToDbClusterArn"] == p_arn
    )
    wait_for(lambda: members(p, name)[1]["Status"] == "available")
    after, _ = members(p, name)
    assert after[p_arn]["IsWriter"] and not after[s_arn]["IsWriter"]


def test_target_by_identifier_in_its_region(global_db):
    name, p, s = global_db
    s.failover_global_cluster(
        GlobalClusterIdentifier=name, TargetDbClusterIdentifier=f"{name}-s", AllowDataLoss=True
    )
    wait_for(lambda: members(s, name)[0][cluster_arn(SECONDARY, f"{name}-s")]["IsWriter"])


def error_code(call, **kwargs) -> str:
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    return e.value.response["Error"]["Code"]


def test_errors(aws, global_db):
    name, p, s = global_db
    s_arn = cluster_arn(SECONDARY, f"{name}-s")
    assert (
        error_code(
            s.failover_global_cluster,
            GlobalClusterIdentifier="nope",
            TargetDbClusterIdentifier=s_arn,
        )
        == "GlobalClusterNotFoundFault"
    )
    assert (
        error_code(s.describe_global_clusters, GlobalClusterIdentifier="nope")
        == "GlobalClusterNotFoundFault"
    )
    assert (
        error_code(
            s.failover_global_cluster,
            GlobalClusterIdentifier=name,
            TargetDbClusterIdentifier=cluster_arn(SECONDARY, "missing"),
            AllowDataLoss=True,
        )
        == "DBClusterNotFoundFault"
    )
    s.create_db_cluster(
        DBClusterIdentifier=f"{name}-x",
        Engine="aurora-postgresql",
        MasterUsername="a",
        MasterUserPassword="password123",
    )
    assert (
        error_code(
            s.failover_global_cluster,
            GlobalClusterIdentifier=name,
            TargetDbClusterIdentifier=cluster_arn(SECONDARY, f"{name}-x"),
            AllowDataLoss=True,
        )
        == "InvalidGlobalClusterStateFault"
    )
    assert (
        error_code(
            s.failover_global_cluster,
            GlobalClusterIdentifier=name,
            TargetDbClusterIdentifier=s_arn,
            AllowDataLoss=True,
            Switchover=True,
        )
        == "InvalidParameterCombination"
    )
    assert (
        error_code(
            p.switchover_global_cluster,
            GlobalClusterIdentifier=name,
            TargetDbClusterIdentifier=cluster_arn(PRIMARY, f"{name}-p"),
        )
        == "InvalidParameterValue"
    )
    s.failover_global_cluster(
        GlobalClusterIdentifier=name, TargetDbClusterIdentifier=s_arn, AllowDataLoss=True
    )
    # a second operation while one runs
    assert (
        error_code(
            p.switchover_global_cluster,
            GlobalClusterIdentifier=name,
            TargetDbClusterIdentifier=cluster_arn(PRIMARY, f"{name}-p"),
        )
        == "InvalidGlobalClusterStateFault"
    )


def test_teardown_after_failover(global_db):
    name, p, s = global_db
    p_arn, s_arn = cluster_arn(PRIMARY, f"{name}-p"), cluster_arn(SECONDARY, f"{name}-s")
    s.failover_global_cluster(
        GlobalClusterIdentifier=name, TargetDbClusterIdentifier=s_arn, AllowDataLoss=True
    )
    wait_for(lambda: members(s, name)[1]["Status"] == "available")
    # drillbit's deprovision: remove each member (asked in its region), delete it, delete the global cluster
    gc = s.remove_from_global_cluster(GlobalClusterIdentifier=name, DbClusterIdentifier=s_arn)[
        "GlobalCluster"
    ]
    assert [m["DBClusterArn"] for m in gc["GlobalClusterMembers"]] == [p_arn]
    standalone = s.describe_db_clusters(DBClusterIdentifier=f"{name}-s")["DBClusters"][0]
    assert "GlobalClusterIdentifier" not in standalone
    with pytest.raises(ClientError):  # no longer a member
        p.remove_from_global_cluster(GlobalClusterIdentifier=name, DbClusterIdentifier=s_arn)
    s.delete_db_cluster(DBClusterIdentifier=f"{name}-s", SkipFinalSnapshot=True)
    # DeleteDBCluster of a member in a region other than us-east-1 also leaves the global cluster
    p.delete_db_cluster(DBClusterIdentifier=f"{name}-p", SkipFinalSnapshot=True)
    assert members(p, name)[0] == {}
    p.delete_global_cluster(GlobalClusterIdentifier=name)
    assert (
        error_code(p.describe_global_clusters, GlobalClusterIdentifier=name)
        == "GlobalClusterNotFoundFault"
    )
    assert (
        error_code(p.delete_global_cluster, GlobalClusterIdentifier=name)
        == "GlobalClusterNotFoundFault"
    )
