"""KeyedBatcher (adapters/batching.py): one batch in flight per key, the rest wait for the next; outcomes per item."""

from __future__ import annotations

import asyncio

import pytest

from order_engine.adapters.batching import KeyedBatcher


async def test_items_arriving_while_a_batch_is_in_flight_go_out_together_one_batch_per_key_at_a_time():
    batches: list[tuple[str, list[int]]] = []
    in_flight: set[str] = set()

    async def flush(key: str, items):
        assert key not in in_flight  # never two batches of one key at once
        in_flight.add(key)
        batches.append((key, list(items)))
        await asyncio.sleep(0.01)
        in_flight.discard(key)
        return [i * 10 for i in items]

    batcher: KeyedBatcher[int, int] = KeyedBatcher(flush, most=3)
    first = asyncio.create_task(batcher.submit("a", 1))
    await asyncio.sleep(0.001)  # its batch is in flight
    rest = [asyncio.create_task(batcher.submit("a", i)) for i in range(2, 7)]
    other = asyncio.create_task(batcher.submit("b", 9))
    assert await asyncio.gather(first, *rest, other) == [10, 20, 30, 40, 50, 60, 90]
    assert [b for b in batches if b[0] == "a"] == [("a", [1]), ("a", [2, 3, 4]), ("a", [5, 6])]
    assert ("b", [9]) in batches


async def test_an_item_s_exception_is_its_own_and_a_failed_batch_fails_each_of_its_items():
    async def flush(key: str, items):
        if key == "down":
            raise OSError("unreachable")
        return [ValueError(f"bad {i}") if i < 0 else i for i in items]

    batcher: KeyedBatcher[int, int] = KeyedBatcher(flush)
    good, bad = batcher.submit("k", 1), batcher.submit("k", -1)
    results = await asyncio.gather(good, bad, return_exceptions=True)
    assert results[0] == 1 and isinstance(results[1], ValueError) and str(results[1]) == "bad -1"
    with pytest.raises(OSError, match="unreachable"):
        await batcher.submit("down", 1)
    assert await batcher.submit("k", 2) == 2  # the key drains again after a batch
