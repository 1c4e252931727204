import asyncio, time, cProfile, pstats
from datetime import timedelta
from .conftest import Market, next_slot


async def test_perf(market: Market) -> None:
    service = await market.service()
    base = next_slot()
    t = time.perf_counter()
    for i in range(50):
        r = await market.book(service, base + timedelta(hours=i))
        assert r.status_code == 201
    print("seq 50 distinct", time.perf_counter() - t)
    t = time.perf_counter()
    for i in range(50):
        r = await market.client.get(
            f"/api/services/{service['id']}", headers=market.customer.headers
        )
    print("seq 50 GET service authed", time.perf_counter() - t)
    t = time.perf_counter()
    rs = await asyncio.gather(
        *(market.book(service, base + timedelta(hours=100 + i)) for i in range(100))
    )
    print("conc 100 distinct", time.perf_counter() - t, sorted(r.status_code for r in rs)[-3:])
    pr = cProfile.Profile()
    t = time.perf_counter()
    pr.enable()
    rs = await asyncio.gather(
        *(market.book(service, base + timedelta(hours=300)) for i in range(100))
    )
    pr.disable()
    print("conc 100 same", time.perf_counter() - t, sorted(r.status_code for r in rs)[:3])
    pstats.Stats(pr).sort_stats("cumulative").print_stats(35)
