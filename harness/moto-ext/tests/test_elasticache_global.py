"""ElastiCache global datastores against the extended moto server."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from conftest import ACCOUNT, wait_for

PRIMARY, DR = "us-west-2", "us-east-2"


def describe(client, gid, members=True):
    groups = client.describe_global_replication_groups(
        GlobalReplicationGroupId=gid, ShowMemberInfo=members
    )
    return groups["GlobalReplicationGroups"][0]


def roles(client, gid):
    return {
        (m["ReplicationGroupRegion"], m["ReplicationGroupId"]): (m["Role"], m["Status"])
        for m in describe(client, gid)["Members"]
    }


def code(call, **kwargs):
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    return e.value.response["Error"]["Code"]


@pytest.fixture
def datastore(aws, name):
    p, d = aws("elasticache", PRIMARY), aws("elasticache", DR)
    p.create_replication_group(
        ReplicationGroupId=f"{name}-p",
        ReplicationGroupDescription="primary",
        Engine="redis",
        EngineVersion="7.1",
        CacheNodeType="cache.r6g.large",
        NumCacheClusters=2,
    )
    created = p.create_global_replication_group(
        GlobalReplicationGroupIdSuffix=name, PrimaryReplicationGroupId=f"{name}-p"
    )
    gid = created["GlobalReplicationGroup"]["GlobalReplicationGroupId"]
    assert created["GlobalReplicationGroup"]["Status"] == "creating"
    wait_for(lambda: describe(p, gid)["Status"] == "available")
    d.create_replication_group(
        ReplicationGroupId=f"{name}-d",
        ReplicationGroupDescription="secondary",
        GlobalReplicationGroupId=gid,
    )
    return gid, name, p, d


def test_create_and_describe(datastore):
    gid, name, p, d = datastore
    assert gid == f"sgaui-{name}"  # the us-west-2 prefix, then the suffix
    g = describe(d, gid)
    assert g["ARN"] == f"arn:aws:elasticache::{ACCOUNT}:globalreplicationgroup:{gid}"
    assert (g["Engine"], g["EngineVersion"], g["CacheNodeType"]) == (
        "redis",
        "7.1",
        "cache.r6g.large",
    )
    assert roles(d, gid) == {
        (PRIMARY, f"{name}-p"): ("PRIMARY", "associated"),
        (DR, f"{name}-d"): ("SECONDARY", "associated"),
    }
    assert "Members" not in describe(d, gid, members=False)
    assert gid in [
        x["GlobalReplicationGroupId"]
        for x in d.describe_global_replication_groups()["GlobalReplicationGroups"]
    ]
    secondary = d.describe_replication_groups(ReplicationGroupId=f"{name}-d")["ReplicationGroups"][
        0
    ]
    assert secondary["GlobalReplicationGroupInfo"] == {
        "GlobalReplicationGroupId": gid,
        "GlobalReplicationGroupMemberRole": "SECONDARY",
    }
    primary = p.describe_replication_groups(ReplicationGroupId=f"{name}-p")["ReplicationGroups"][0]
    assert primary["GlobalReplicationGroupInfo"]["GlobalReplicationGroupMemberRole"] == "PRIMARY"


def test_failover_from_dr_region(datastore):
    gid, name, p, d = datastore
    g = d.failover_global_replication_group(
        GlobalReplicationGroupId=gid,
        PrimaryRegion=DR,
        PrimaryReplicationGroupId=f"{name}-d",
    )["GlobalReplicationGroup"]
    assert g["Status"] == "modifying"
    assert (
        d.describe_replication_groups(ReplicationGroupId=f"{name}-d")["ReplicationGroups"][0][
            "Status"
        ]
        == "modifying"
    )
    wait_for(lambda: describe(d, gid)["Status"] == "available")
    assert roles(p, gid) == {
        (PRIMARY, f"{name}-p"): ("SECONDARY", "associated"),
        (DR, f"{name}-d"): ("PRIMARY", "associated"),
    }
    promoted = d.describe_replication_groups(ReplicationGroupId=f"{name}-d")["ReplicationGroups"][0]
    assert promoted["Status"] == "available"
    assert promoted["GlobalReplicationGroupInfo"]["GlobalReplicationGroupMemberRole"] == "PRIMARY"
    # and back
    p.failover_global_replication_group(
        GlobalReplicationGroupId=gid, PrimaryRegion=PRIMARY, PrimaryReplicationGroupId=f"{name}-p"
    )
    wait_for(lambda: roles(p, gid)[(PRIMARY, f"{name}-p")][0] == "PRIMARY")


def test_teardown(datastore):
    gid, name, p, d = datastore
    assert (
        code(d.delete_replication_group, ReplicationGroupId=f"{name}-d")
        == "InvalidReplicationGroupState"
    )
    assert (
        code(
            p.delete_global_replication_group,
            GlobalReplicationGroupId=gid,
            RetainPrimaryReplicationGroup=True,
        )
        == "InvalidGlobalReplicationGroupState"
    )
    g = d.disassociate_global_replication_group(
        GlobalReplicationGroupId=gid,
        ReplicationGroupId=f"{name}-d",
        ReplicationGroupRegion=DR,
    )["GlobalReplicationGroup"]
    assert [m["ReplicationGroupId"] for m in g["Members"]] == [f"{name}-p"]
    assert (
        "GlobalReplicationGroupInfo"
        not in d.describe_replication_groups(ReplicationGroupId=f"{name}-d")["ReplicationGroups"][0]
    )
    d.delete_replication_group(ReplicationGroupId=f"{name}-d")
    g = p.delete_global_replication_group(
        GlobalReplicationGroupId=gid, RetainPrimaryReplicationGroup=True
    )["GlobalReplicationGroup"]
    assert g["Status"] == "deleting"
    assert (
        code(p.describe_global_replication_groups, GlobalReplicationGroupId=gid)
        == "GlobalReplicationGroupNotFoundFault"
    )
    p.delete_replication_group(ReplicationGroupId=f"{name}-p")  # standalone again


def test_errors(aws, datastore):
    gid, name, p, d = datastore
    assert (
        code(d.describe_global_replication_groups, GlobalReplicationGroupId="nope")
        == "GlobalReplicationGroupNotFoundFault"
    )
    assert (
        code(
            d.failover_global_replication_group,
            GlobalReplicationGroupId="nope",
            PrimaryRegion=DR,
            PrimaryReplicationGroupId="x",
        )
        == "GlobalReplicationGroupNotFoundFault"
    )
    assert (
        code(
            d.failover_global_replication_group,
            GlobalReplicationGroupId=gid,
            PrimaryRegion=DR,
            PrimaryReplicationGroupId="x",
        )
        == "InvalidParameterValue"
    )
    assert (
        code(
            p.failover_global_replication_group,
            GlobalReplicationGroupId=gid,
            PrimaryRegion=PRIMARY,
            PrimaryReplicationGroupId=f"{name}-p",
        )
        == "InvalidParameterValue"
    )
    assert (
        code(
            p.create_global_replication_group,
            GlobalReplicationGroupIdSuffix=name,
            PrimaryReplicationGroupId="nope",
        )
        == "ReplicationGroupNotFoundFault"
    )
    assert (
        code(
            p.create_global_replication_group,
            GlobalReplicationGroupIdSuffix=name + "x",
            PrimaryReplicationGroupId=f"{name}-p",
        )
        == "InvalidReplicationGroupState"
    )
    assert (
        code(
            d.create_replication_group,
            ReplicationGroupId=f"{name}-d2",
            ReplicationGroupDescription="x",
            GlobalReplicationGroupId=gid,
        )
        == "InvalidParameterValue"
    )
    assert (
        code(
            aws("elasticache", "eu-west-1").create_replication_group,
            ReplicationGroupId=f"{name}-e",
            ReplicationGroupDescription="x",
            GlobalReplicationGroupId="nope",
        )
        == "GlobalReplicationGroupNotFoundFault"
    )
    d.failover_global_replication_group(
        GlobalReplicationGroupId=gid, PrimaryRegion=DR, PrimaryReplicationGroupId=f"{name}-d"
    )
    assert (
        code(
            p.failover_global_replication_group,
            GlobalReplicationGroupId=gid,
            PrimaryRegion=PRIMARY,
            PrimaryReplicationGroupId=f"{name}-p",
        )
        == "InvalidGlobalReplicationGroupState"
    )
