"""DynamoDB global tables, version 2019.11.21, for moto's DynamoDB.

``UpdateTable(ReplicaUpdates=[{"Create"|"Delete": {"RegionName": ...}}])`` adds or removes a replica
table in another region. Writes to any replica reach the others after a replication lag
(``DRILLBIT_MOTO_DDB_REPLICATION_LAG_MS``, default 500), last writer wins.

Replication is applied on read, from timestamps: each write is queued with the time it becomes
visible elsewhere, and any access to a replica first applies the queued writes that are due. There is
no background thread, so what a read sees depends only on the clock: a write is invisible in the other
regions until its lag has passed, and visible from then on.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from moto.core.common_models import BaseModel
from moto.dynamodb.exceptions import MockValidationException
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler

from ._common import LOCK, env_seconds, extend

#: Replication lag in milliseconds (default 500).
LAG_ENV = "DRILLBIT_MOTO_DDB_REPLICATION_LAG_MS"
GLOBAL_TABLE_VERSION = "2019.11.21"

ItemKey = tuple[DynamoType, DynamoType | None]
_sequence = itertools.count()
_transaction = threading.local()


def _lag_seconds() -> float:
    return env_seconds(LAG_ENV, 500.0) / 1000.0


@dataclass(order=True)
class ReplicatedWrite:
    """A write made in ``origin`` that the ``destinations`` have not applied yet."""

    visible_at: float
    stamp: tuple[float, int]  # (written at, sequence): orders writes for last-writer-wins
    origin: str = field(compare=False)
    destinations: list[str] = field(compare=False)
    key: ItemKey = field(compare=False)
    image: dict[str, Any] | None = field(compare=False)  # None: the item was deleted


class ReplicaGroup(BaseModel):
    """The replicas of one global table: the regions holding it and the writes in flight."""

    def __init__(self, account_id: str, table_name: str, regions: list[str]):
        self.account_id = account_id
        self.table_name = table_name
        self.regions = list(regions)
        self.pending: list[ReplicatedWrite] = []
        # (region, item key) -> stamp of the write that region holds for the item
        self.clock: dict[tuple[str, ItemKey], tuple[float, int]] = {}

    def table(self, region: str) -> Table | None:
        return dynamodb_backends[self.account_id][region].tables.get(self.table_name)

    def record(
        self, origin: str, key: ItemKey, image: dict[str, Any] | None, now: float | None = None
    ) -> None:
        """Queue a write made in ``origin`` for the other replicas."""
        with LOCK:
            now = time.monotonic() if now is None else now
            stamp = (now, next(_sequence))
            self.clock[(origin, key)] = stamp
            others = [r for r in self.regions if r != origin]
            if others:
                heapq.heappush(
                    self.pending,
                    ReplicatedWrite(
                        now + _lag_seconds(), stamp, origin, others, copy.deepcopy(key), image
                    ),
                )

    def deliver_due(self) -> None:
        """Apply every queued write whose lag has passed, oldest first; the newer write wins."""
        with LOCK:
            now = time.monotonic()
            while self.pending and self.pending[0].visible_at <= now:
                write = heapq.heappop(self.pending)
                for region in write.destinations:
                    table = self.table(region) if region in self.regions else None
                    if (
                        table is None
                        or self.clock.get((region, write.key), (0.0, -1)) > write.stamp
                    ):
                        continue
                    self.clock[(region, write.key)] = write.stamp
                    if write.image is None:
                        table.delete_item(*write.key)
                    else:
                        table.put_item(copy.deepcopy(write.image), overwrite=True)

    def replicas(self, region: str) -> list[dict[str, Any]]:
        """The Replicas element of DescribeTable in ``region``: the other regions' replicas."""
        return [
            {
                "RegionName": other,
                "ReplicaStatus": "ACTIVE",
                "ReplicaArn": f"arn:aws:dynamodb:{other}:{self.account_id}:table/{self.table_name}",
            }
            for other in self.regions
            if other != region
        ]


def _item_key(item: Item) -> ItemKey:
    return (item.hash_key, item.range_key)


class TableExtension:
    """Attributes added to moto's ``Table``."""

    def describe(self, base_key: str = "TableDescription") -> dict[str, Any]:
        result = self._orig_describe(base_key)
        backend = dynamodb_backends[self.account_id][self.region_name]
        group = backend.replica_groups.get(self.name)
        if group is not None:
            result[base_key]["Replicas"] = group.replicas(self.region_name)
            result[base_key]["GlobalTableVersion"] = GLOBAL_TABLE_VERSION
        return result


class DynamoDBBackendExtension:
    """Operations added to (or wrapped in) moto's ``DynamoDBBackend``."""

    @property
    def replica_groups(self) -> dict[str, ReplicaGroup]:
        """Global tables with a replica in this region, by table name (shared with the other regions)."""
        return self.__dict__.setdefault("_replica_groups", {})

    def get_table(self, table_name: str) -> Table:
        group = self.replica_groups.get(table_name)
        if group is not None:
            group.deliver_due()
        table = self._orig_get_table(table_name)
        if group is None and table.name in self.replica_groups:  # looked up by ARN
            self.replica_groups[table.name].deliver_due()
        return table

    def _replicate(self, table_name: str, key: ItemKey, image: dict[str, Any] | None) -> None:
        name = self.get_table(table_name).name
        group = self.replica_groups.get(name)
        if group is None:
            return
        pending = getattr(_transaction, "writes", None)
        if pending is not None:
            pending.append((group, key, image))
        else:
            group.record(self.region_name, key, image)

    def put_item(
        self, table_name: str, item_attrs: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Item:
        item = self._orig_put_item(table_name, item_attrs, *args, **kwargs)
        self._replicate(table_name, _item_key(item), copy.deepcopy(item.to_json()["Attributes"]))
        return item

    def update_item(self, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Item:
        item = self._orig_update_item(table_name, key, *args, **kwargs)
        self._replicate(table_name, _item_key(item), copy.deepcopy(item.to_json()["Attributes"]))
        return item

    def delete_item(
        self, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Item | None:
        item = self._orig_delete_item(table_name, key, *args, **kwargs)
        if item is not None:
            self._replicate(table_name, _item_key(item), None)
        return item

    def transact_write_items(self, transact_items: list[dict[str, Any]]) -> None:
        """As moto's; the writes replicate only if the transaction commits, all with one timestamp."""
        _transaction.writes = []
        try:
            self._orig_transact_write_items(transact_items)
            writes, now = _transaction.writes, time.monotonic()
        finally:
            del _transaction.writes
        for group, key, image in writes:
            group.record(self.region_name, key, image, now=now)

    def delete_table(self, name: str) -> Table:
        """As moto's; deleting a replica takes it out of its global table, the others carry on."""
        table = self._orig_delete_table(name)
        group = self.replica_groups.pop(table.name, None)
        if group is not None:
            with LOCK:
                group.regions.remove(self.region_name)
                if len(group.regions) == 1:  # the last one left is a plain table again
                    dynamodb_backends[self.account_id][group.regions[0]].replica_groups.pop(
                        table.name, None
                    )
        return table

    def update_table_replicas(self, table_name: str, replica_updates: list[dict[str, Any]]) -> None:
        """The ReplicaUpdates of UpdateTable (global tables version 2019.11.21)."""
        source = self.get_table(table_name)
        for update in replica_updates:
            if "Create" in update:
                self._create_replica(source, update["Create"]["RegionName"])
            elif "Delete" in update:
                self._delete_replica(source, update["Delete"]["RegionName"])
            # "Update" (per-replica throughput/KMS overrides) is accepted and not modelled.

    def _create_replica(self, source: Table, region: str) -> None:
        with LOCK:
            group = self.replica_groups.get(source.name)
            if region == self.region_name or (group and region in group.regions):
                raise MockValidationException(
                    f"Table {source.name} already has a replica in {region}."
                )
            target_backend = dynamodb_backends[self.account_id][region]
            if source.name in target_backend.tables:
                raise MockValidationException(
                    f"Failed to create a the new replica of table with name: '{source.name}' "
                    "because one or more replicas already existed as tables."
                )
            throughput = None
            if source.billing_mode != "PAY_PER_REQUEST":
                throughput = {
                    "ReadCapacityUnits": source.throughput["ReadCapacityUnits"],
                    "WriteCapacityUnits": source.throughput["WriteCapacityUnits"],
                }
            replica = target_backend.create_table(
                source.name,
                schema=copy.deepcopy(source.schema),
                throughput=throughput,
                attr=copy.deepcopy(source.attr),
                global_indexes=[
                    {
                        "IndexName": gsi.name,
                        "KeySchema": copy.deepcopy(gsi.schema),
                        "Projection": copy.deepcopy(gsi.projection),
                        "ProvisionedThroughput": {
                            "ReadCapacityUnits": gsi.throughput["ReadCapacityUnits"],
                            "WriteCapacityUnits": gsi.throughput["WriteCapacityUnits"],
                        },
                    }
                    for gsi in source.global_indexes
                ],
                indexes=[lsi.describe() for lsi in source.indexes],
                streams=copy.deepcopy(source.stream_specification),
                billing_mode=source.billing_mode,
                sse_specification=copy.deepcopy(source.sse_specification),
                tags=[],
                deletion_protection_enabled=False,
                warm_throughput=None,
            )
            if group is None:
                group = ReplicaGroup(self.account_id, source.name, [self.region_name])
                self.replica_groups[source.name] = group
            group.regions.append(region)
            target_backend.replica_groups[source.name] = group
            # The new replica starts from the source's current items (AWS backfills it), and
            # receives the writes still in flight to the source.
            for write in group.pending:
                if write.origin != region and region not in write.destinations:
                    write.destinations.append(region)
            now = time.monotonic()
            for item in source.all_items():
                replica.put_item(copy.deepcopy(item.to_json()["Attributes"]), overwrite=True)
                group.clock[(region, _item_key(item))] = group.clock.get(
                    (self.region_name, _item_key(item)), (now, next(_sequence))
                )

    def _delete_replica(self, source: Table, region: str) -> None:
        with LOCK:
            group = self.replica_groups.get(source.name)
            if group is None or region not in group.regions or region == self.region_name:
                raise MockValidationException(
                    f"Update global table operation failed because the Region {region} "
                    f"is not a replica of table {source.name} that can be deleted from {self.region_name}."
                )
            dynamodb_backends[self.account_id][region].delete_table(source.name)


class DynamoHandlerExtension:
    """Actions wrapped in moto's ``DynamoHandler``."""

    def update_table(self) -> Any:
        replica_updates = self.body.get("ReplicaUpdates")
        if replica_updates:
            self.dynamodb_backend.update_table_replicas(self.body["TableName"], replica_updates)
        return self._orig_update_table()


def install() -> None:
    """Graft global-table replication onto moto's DynamoDB classes."""
    extend(Table, TableExtension)
    extend(DynamoDBBackend, DynamoDBBackendExtension)
    extend(DynamoHandler, DynamoHandlerExtension)
