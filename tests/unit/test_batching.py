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


async def test_with_depth_two_a_second_batch_goes_out_while_the_first_is_in_flight_and_never_a_third():
    batches: list[list[int]] = []
    in_flight, most_in_flight = 0, 0

    async def flush(_key: str, items):
        nonlocal in_flight, most_in_flight
        in_flight += 1
        most_in_flight = max(most_in_flight, in_flight)
        batches.append(list(items))
        await asyncio.sleep(0.01)
        in_flight -= 1
        return [i * 10 for i in items]

    batcher: KeyedBatcher[int, int] = KeyedBatcher(flush, most=2, depth=2)
    first = asyncio.create_task(batcher.submit("a", 1))
    await asyncio.sleep(0.001)  # the first batch is in flight: the second slot is free
    second = asyncio.create_task(batcher.submit("a", 2))
    await asyncio.sleep(0.001)  # both slots in flight: these wait
    rest = [asyncio.create_task(batcher.submit("a", i)) for i in range(3, 8)]
    assert await asyncio.gather(first, second, *rest) == [10, 20, 30, 40, 50, 60, 70]
    assert batches[:2] == [[1], [2]]  # the second did not wait for the first
    assert sorted(i for b in batches[2:] for i in b) == [3, 4, 5, 6, 7] and all(len(b) <= 2 for b in batches)
    assert most_in_flight == 2
    assert not batcher._in_flight and not batcher._pending  # every slot freed


def test_depth_must_be_at_least_one():
    with pytest.raises(ValueError, match="depth"):
        KeyedBatcher(lambda _k, items: asyncio.sleep(0, list(items)), depth=0)
