"""LiveStreams: per-process and per-order caps, and the batched re-check that wakes streams left behind."""

from __future__ import annotations

import uuid

import pytest

from order_engine.app.live.streams import LiveStreams


class FakeWatch:
    def __init__(self, last: int = 0) -> None:
        self.last = last
        self.woken = 0

    def wake(self) -> None:
        self.woken += 1


class Seqs:
    def __init__(self, seqs: dict[uuid.UUID, int]) -> None:
        self.seqs = seqs
        self.calls: list[list[uuid.UUID]] = []

    async def latest_seqs(self, order_ids):
        self.calls.append(list(order_ids))
        return {i: self.seqs[i] for i in order_ids if i in self.seqs}


def test_caps_refuse_with_a_reason_and_release_on_exit() -> None:
    streams = LiveStreams(max_total=3, max_per_order=2)
    a, b = uuid.uuid4(), uuid.uuid4()
    with streams.admit(a, FakeWatch()) as r1, streams.admit(a, FakeWatch()) as r2:
        assert (r1, r2) == (None, None)
        with streams.admit(a, FakeWatch()) as r3:
            assert r3 == "too many subscribers for this order (max 2)"
        with streams.admit(b, FakeWatch()) as r4:
            assert r4 is None and streams.total == 3
            with streams.admit(uuid.uuid4(), FakeWatch()) as r5:
                assert r5 == "too many WebSocket connections on this server (max 3)"
        assert streams.count(a) == 2 and streams.count(b) == 0
    assert streams.total == 0 and streams.by_order == {}


async def test_resync_wakes_only_streams_behind_in_one_query() -> None:
    streams = LiveStreams(max_total=100, max_per_order=10)
    ahead, behind, gone = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    current, late, other, orphan = FakeWatch(3), FakeWatch(2), FakeWatch(4), FakeWatch(1)
    source = Seqs({ahead: 3, behind: 5})  # `gone` no longer exists: nothing to wake
    with (
        streams.admit(ahead, current),
        streams.admit(behind, late),
        streams.admit(behind, other),
        streams.admit(gone, orphan),
    ):
        assert await streams.resync_once(source) == 2
    assert (current.woken, late.woken, other.woken, orphan.woken) == (0, 1, 1, 0)
    assert len(source.calls) == 1 and sorted(source.calls[0]) == sorted([ahead, behind, gone])


async def test_resync_batches_large_registries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("order_engine.app.live.streams.RESYNC_BATCH", 2)
    streams = LiveStreams(max_total=100, max_per_order=10)
    ids = [uuid.uuid4() for _ in range(5)]
    watches = [FakeWatch(0) for _ in ids]
    source = Seqs(dict.fromkeys(ids, 1))
    for order_id, watch in zip(ids, watches, strict=True):
        streams.by_order[order_id] = {watch}
    assert await streams.resync_once(source) == 5
    assert [len(c) for c in source.calls] == [2, 2, 1]


async def test_resync_loop_survives_a_database_outage() -> None:
    streams = LiveStreams(max_total=10, max_per_order=10)
    order_id, watch = uuid.uuid4(), FakeWatch(0)
    rounds = 0

    class Flaky:
        async def latest_seqs(self, order_ids):
            if rounds == 1:
                raise ConnectionRefusedError("down")
            return dict.fromkeys(order_ids, 2)

    async def sleep(_: float) -> None:
        nonlocal rounds
        rounds += 1
        if rounds > 3:
            raise RuntimeError("stop")

    with streams.admit(order_id, watch), pytest.raises(RuntimeError, match="stop"):
        await streams.resync_forever(Flaky(), 5.0, sleep=sleep)
    assert watch.woken == 2  # rounds 2 and 3; round 1 failed and the loop went on
