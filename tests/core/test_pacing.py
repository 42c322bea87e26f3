"""The turnstile spreads a burst of CPU stretches over loop iterations, in arrival order."""
import asyncio

from tabletalk.core.pacing import PER_TICK, Turnstile, turn


async def _iteration_counter(stop: asyncio.Event, ticks: list[int]) -> None:
    while not stop.is_set():
        ticks[0] += 1
        await asyncio.sleep(0)


async def test_a_burst_passes_a_few_per_iteration_in_arrival_order():
    loop = asyncio.get_running_loop()
    gate = Turnstile(loop, per_tick=3)
    ticks, stop, seen = [0], asyncio.Event(), []
    counter = loop.create_task(_iteration_counter(stop, ticks))

    async def worker(n: int):
        await gate.turn()
        seen.append((n, ticks[0]))

    await asyncio.gather(*(worker(n) for n in range(10)))
    stop.set()
    await counter
    assert [n for n, _ in seen] == list(range(10))  # first come, first served
    per_iteration: dict[int, int] = {}
    for _, tick in seen:
        per_iteration[tick] = per_iteration.get(tick, 0) + 1
    assert max(per_iteration.values()) <= 3
    assert len(per_iteration) >= 4  # ten stretches need at least four iterations at three each


async def test_a_free_gate_does_not_yield():
    gate = Turnstile(asyncio.get_running_loop(), per_tick=2)
    order = []

    async def other():
        order.append("other")

    task = asyncio.get_running_loop().create_task(other())
    await gate.turn()  # passes at once: the other task has not run yet
    order.append("passed")
    await task
    assert order == ["passed", "other"]


async def test_a_cancelled_waiter_gives_its_place_away():
    gate = Turnstile(asyncio.get_running_loop(), per_tick=1)
    await gate.turn()
    waiter = asyncio.ensure_future(gate.turn())
    later = asyncio.ensure_future(gate.turn())
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.wait_for(later, 1)
    assert later.done() and not later.cancelled()


async def test_the_module_gate_serves_a_thousand_waiters():
    done = 0

    async def one():
        nonlocal done
        await turn()
        done += 1

    await asyncio.wait_for(asyncio.gather(*(one() for _ in range(1000))), 10)
    assert done == 1000 and PER_TICK >= 1
