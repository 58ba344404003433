"""Queues: named lists of launches waiting for an agent. Three modules, one job each:

- items.py: queues and their items as users see them (launch_add, QueuedItem, listing, cancel, remove);
- claims.py: the claim protocol between agents and items (claim_next, record_launch/record_failure,
  recover_items, adopt_orphans, reconcile_items);
- sync.py: keeping items in line with their runs (sync_items), a write left to agents, waits on an item
  and reconciling the workspace. rows.py shows an item as its run's end makes it, without writing.

The public names are imported here, so `from launcher.queue import launch_add, QueuedItem` keeps working."""

from __future__ import annotations

from launcher.queue.claims import (
    Adoption,
    adopt_orphans,
    claim_next,
    reconcile_items,
    record_failure,
    record_launch,
    recover_items,
)
from launcher.queue.items import (
    DEFAULT_QUEUE,
    SETTING_KEYS,
    PreparedItem,
    QueuedItem,
    QueueError,
    add_item,
    add_items,
    cancel_item,
    check_queue,
    check_settings,
    create_queue,
    delete_queue,
    get_item,
    insert_items,
    launch_add,
    list_items,
    prepare_items,
    priority_rank,
    queue_names,
    queues,
    remove_item,
)
from launcher.queue.rows import DEFAULT_PRIORITY, PRIORITIES
from launcher.queue.sync import sync_items
from launcher.records import ItemRecord, QueueRecord

__all__ = [
    "DEFAULT_PRIORITY", "DEFAULT_QUEUE", "PRIORITIES", "SETTING_KEYS", "Adoption", "ItemRecord", "PreparedItem",
    "QueueError", "QueueRecord", "QueuedItem", "add_item", "add_items", "adopt_orphans", "cancel_item",
    "check_queue", "check_settings", "claim_next", "create_queue", "delete_queue", "get_item", "insert_items",
    "launch_add", "list_items", "prepare_items", "priority_rank", "queue_names", "queues", "reconcile_items",
    "record_failure", "record_launch", "recover_items", "remove_item", "sync_items",
]
