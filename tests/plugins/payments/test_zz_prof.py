import time
from .conftest import Shop

async def test_prof(shop: Shop) -> None:
    coll = shop.env.keel.mongo[shop.env.settings.database.name]["zz"]
    await coll.insert_one({"_id": 0, "n": 0})
    for name, fn in (
        ("insert", lambda i: coll.insert_one({"_id": i + 1})),
        ("update", lambda i: coll.update_one({"_id": 0}, {"$inc": {"n": 1}})),
        ("find", lambda i: coll.find_one({"_id": 0})),
        ("valkey set", lambda i: shop.env.keel.valkey.set(f"zz{i}", "1")),
    ):
        t = time.perf_counter()
        for i in range(100):
            await fn(i)
        print(name, (time.perf_counter() - t) * 10, "ms")
