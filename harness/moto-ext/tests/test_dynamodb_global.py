"""Global tables version 2019.11.21 against the extended moto server (lag 600 ms, see conftest)."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError
from conftest import TIMINGS

SOURCE, REPLICA, THIRD = "us-west-2", "us-east-2", "eu-west-1"
LAG = int(TIMINGS["DRILLBIT_MOTO_DDB_REPLICATION_LAG_MS"]) / 1000


@pytest.fixture
def table(aws, name):
    src = aws("dynamodb", SOURCE)
    src.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    src.put_item(TableName=name, Item={"pk": {"S": "before"}, "v": {"N": "1"}})
    src.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": REPLICA}}])
    return name, src, aws("dynamodb", REPLICA)


def get(client, table, pk):
    return client.get_item(TableName=table, Key={"pk": {"S": pk}}, ConsistentRead=True).get("Item")


def wait_past(t0: float) -> None:
    """Sleep until the lag has passed since client time ``t0`` (taken after the write returned)."""
    time.sleep(max(0.0, t0 + LAG + 0.05 - time.monotonic()))


def test_replica_created_with_same_schema_and_replicas_listed(table, aws):
    name, src, rep = table
    described = rep.describe_table(TableName=name)["Table"]
    assert described["TableStatus"] == "ACTIVE"
    assert described["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert described["GlobalTableVersion"] == "2019.11.21"
    assert [(r["RegionName"], r["ReplicaStatus"]) for r in described["Replicas"]] == [
        (SOURCE, "ACTIVE")
    ]
    source = src.describe_table(TableName=name)["Table"]
    assert [(r["RegionName"], r["ReplicaStatus"]) for r in source["Replicas"]] == [
        (REPLICA, "ACTIVE")
    ]
    assert name in rep.list_tables()["TableNames"]
    # existing items are backfilled into the new replica
    assert get(rep, name, "before") == {"pk": {"S": "before"}, "v": {"N": "1"}}


def test_write_invisible_until_lag_then_visible_both_ways(table):
    name, src, rep = table
    t_start = time.monotonic()
    src.put_item(TableName=name, Item={"pk": {"S": "a"}, "v": {"S": "from-source"}})
    t_written = time.monotonic()
    early = get(rep, name, "a")
    if time.monotonic() - t_start < LAG:  # always, unless the machine stalled for the whole lag
        assert early is None
    wait_past(t_written)
    assert get(rep, name, "a") == {"pk": {"S": "a"}, "v": {"S": "from-source"}}

    rep.update_item(
        TableName=name,
        Key={"pk": {"S": "a"}},
        UpdateExpression="SET v = :v, n = :n",
        ExpressionAttributeValues={":v": {"S": "from-replica"}, ":n": {"N": "7"}},
    )
    t_written = time.monotonic()
    wait_past(t_written)
    assert get(src, name, "a") == {"pk": {"S": "a"}, "v": {"S": "from-replica"}, "n": {"N": "7"}}

    rep.delete_item(TableName=name, Key={"pk": {"S": "a"}})
    t_written = time.monotonic()
    assert get(src, name, "a") is not None or time.monotonic() - t_written >= LAG
    wait_past(t_written)
    assert get(src, name, "a") is None


def test_last_writer_wins(table):
    name, src, rep = table
    src.put_item(TableName=name, Item={"pk": {"S": "k"}, "v": {"S": "older"}})
    rep.put_item(TableName=name, Item={"pk": {"S": "k"}, "v": {"S": "newer"}})
    t_written = time.monotonic()
    wait_past(t_written)
    assert get(src, name, "k")["v"] == {"S": "newer"}
    assert get(rep, name, "k")["v"] == {"S": "newer"}


def test_batch_and_transact_writes_replicate(table):
    name, src, rep = table
    src.batch_write_item(
        RequestItems={
            name: [
                {"PutRequest": {"Item": {"pk": {"S": "b1"}}}},
                {"PutRequest": {"Item": {"pk": {"S": "b2"}}}},
                {"DeleteRequest": {"Key": {"pk": {"S": "before"}}}},
            ]
        }
    )
    src.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": name, "Item": {"pk": {"S": "t1"}, "v": {"N": "1"}}}},
            {
                "Update": {
                    "TableName": name,
                    "Key": {"pk": {"S": "b1"}},
                    "UpdateExpression": "SET v = :v",
                    "ExpressionAttributeValues": {":v": {"N": "2"}},
                }
            },
        ]
    )
    # a cancelled transaction replicates nothing
    with pytest.raises(ClientError):
        src.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": name, "Item": {"pk": {"S": "never"}}}},
                {
                    "ConditionCheck": {
                        "TableName": name,
                        "Key": {"pk": {"S": "b2"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    wait_past(time.monotonic())
    keys = sorted(i["pk"]["S"] for i in rep.scan(TableName=name)["Items"])
    assert keys == ["b1", "b2", "t1"]
    assert get(rep, name, "b1")["v"] == {"N": "2"}
    assert rep.describe_table(TableName=name)["Table"]["ItemCount"] == 3


def test_three_regions_and_delete_replica(table, aws):
    name, src, rep = table
    third = aws("dynamodb", THIRD)
    src.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": THIRD}}])
    assert sorted(
        r["RegionName"] for r in rep.describe_table(TableName=name)["Table"]["Replicas"]
    ) == sorted([SOURCE, THIRD])
    rep.put_item(TableName=name, Item={"pk": {"S": "x"}})
    wait_past(time.monotonic())
    assert get(third, name, "x") and get(src, name, "x")

    # removing a replica through UpdateTable deletes that table; the others carry on
    src.update_table(TableName=name, ReplicaUpdates=[{"Delete": {"RegionName": THIRD}}])
    assert name not in third.list_tables()["TableNames"]
    assert [r["RegionName"] for r in src.describe_table(TableName=name)["Table"]["Replicas"]] == [
        REPLICA
    ]

    # DeleteTable of a replica: the last table left is a plain table again and still works
    rep.delete_table(TableName=name)
    left = src.describe_table(TableName=name)["Table"]
    assert "Replicas" not in left and "GlobalTableVersion" not in left
    src.put_item(TableName=name, Item={"pk": {"S": "y"}})
    assert get(src, name, "y")


def test_replica_update_errors(table):
    name, src, rep = table
    for region in (REPLICA, SOURCE):
        with pytest.raises(ClientError) as e:
            src.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": region}}])
        assert e.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as e:
        src.update_table(TableName=name, ReplicaUpdates=[{"Delete": {"RegionName": "ap-south-1"}}])
    assert e.value.response["Error"]["Code"] == "ValidationException"


def test_concurrent_writers_in_both_regions_converge(table, aws):
    """The server is threaded: parallel writers in both regions, then every item everywhere."""
    from concurrent.futures import ThreadPoolExecutor

    name, _, _ = table

    def writer(n: int) -> None:
        client = aws("dynamodb", SOURCE if n % 2 else REPLICA)
        for i in range(20):
            client.put_item(TableName=name, Item={"pk": {"S": f"w{n}-{i}"}, "n": {"N": str(i)}})

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(writer, range(4)))
    wait_past(time.monotonic())
    for region in (SOURCE, REPLICA):
        items = aws("dynamodb", region).scan(TableName=name)["Items"]
        assert len(items) == 81, region  # 80 written + the backfilled one
