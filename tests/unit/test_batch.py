"""Group commit: concurrent writes go to the database together, each writer waits for its own."""

from __future__ import annotations

import asyncio

import pytest

from db.batch import WriteBatch


class Flushes:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.fail_next = False

    async def __call__(self, items: list[int]) -> None:
        await asyncio.sleep(0.01)  # a statement in flight
        if self.fail_next:
            self.fail_next = False
            raise OSError("disk I/O error")
        self.batches.append(items)


async def test_writes_made_during_a_flush_go_together_in_the_next() -> None:
    flushes = Flushes()
    batch = WriteBatch(flushes)
    first = asyncio.create_task(batch.write(0))
    await asyncio.sleep(0)  # the first flush is in flight
    await asyncio.gather(first, *(batch.write(n) for n in range(1, 100)))
    assert flushes.batches == [[0], list(range(1, 100))]


async def test_a_failed_flush_fails_each_of_its_writers_and_the_next_goes_on() -> None:
    flushes = Flushes()
    flushes.fail_next = True
    batch = WriteBatch(flushes)
    results = await asyncio.gather(batch.write(1), batch.write(2), return_exceptions=True)
    assert [type(r) for r in results] == [OSError, OSError]
    await batch.write(3)
    assert flushes.batches == [[3]]
    with pytest.raises(OSError):
        flushes.fail_next = True
        await batch.write(4)
