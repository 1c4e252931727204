"""Payments: Stripe webhook processing req/s and p99.

Starts the embedded stack and one ``keel serve`` process (bookings + payments,
production settings, rate limits off, a webhook secret), seeds ``--payments`` unpaid
payments straight into MongoDB, then measures at 16 concurrent keep-alive clients:

- fresh valid events: every request is a new signed ``payment_intent.succeeded`` for
  another payment (signature check, delivery record, compare-and-set, outbox, the
  ``payment.completed`` event enqueued for bookings' durable listener);
- duplicates: one valid event sent again and again (recorded, acknowledged, no work);
- bad signatures: a tampered body (400 before anything is read or written).

    .venv/bin/python bench/payments.py [--seconds 3] [--concurrency 16] [--payments 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import secrets
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bson import ObjectId
from motor.motor_asyncio import AsyncIOMotorClient

from bench._load import Result, _read_response, _request, measure
from bench._servers import embedded_keel, free_port, keel_argv, process
from plugins.payments.models import Payment

DATABASE = "bench_payments"
SECRET = "whsec_bench_" + secrets.token_hex(8)
PATH = "/api/webhooks/stripe"


def _event(payment: dict[str, Any], event_id: str | None = None) -> bytes:
    intent = {
        "id": payment["stripe_payment_intent_id"],
        "object": "payment_intent",
        "status": "succeeded",
        "amount": payment["amount"],
        "currency": "eur",
        "latest_charge": f"ch_{payment['_id']}",
        "metadata": {"keel_payment_id": str(payment["_id"])},
    }
    body = {
        "id": event_id or f"evt_{ObjectId()}",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": int(time.time()),
        "data": {"object": intent},
    }
    return json.dumps(body).encode()


def _headers(body: bytes, secret: str = SECRET) -> dict[str, str]:
    stamp = int(time.time())
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "Stripe-Signature": f"t={stamp},v1={mac}"}


async def seed(url: str, count: int) -> list[dict[str, Any]]:
    """``count`` unpaid payments, each on its own (fictitious) intent."""
    client: AsyncIOMotorClient[Any] = AsyncIOMotorClient(url)
    docs = [
        Payment(
            id=ObjectId(),
            booking_id=str(ObjectId()),
            customer_id=str(ObjectId()),
            provider_id=str(ObjectId()),
            amount=4500,
            currency="EUR",
            status="requires_payment_method",
            stripe_payment_intent_id=f"pi_bench{i:08d}",
        ).model_dump_doc()
        for i in range(count)
    ]
    coll = client[DATABASE]["payments_payments"]
    for start in range(0, count, 1000):
        await coll.insert_many(docs[start : start + 1000])
    client.close()
    return docs


async def fresh_events(
    port: int, payments: list[dict[str, Any]], concurrency: int, seconds: float
) -> Result:
    """Each request a new valid event for the next unpaid payment."""
    result = Result("fresh valid events", 0, 0, 0.0, [])
    queue = iter(payments)
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for payment in queue:
                if time.perf_counter() >= deadline:
                    return
                body = _event(payment)
                raw = _request("127.0.0.1", port, "POST", PATH, headers=_headers(body), body=body)
                start = time.perf_counter()
                writer.write(raw)
                status = await _read_response(reader)
                result.latencies_ms.append((time.perf_counter() - start) * 1000)
                result.requests += 1
                result.errors += status != 200
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - start
    if result.requests >= len(payments):
        print("warning: ran out of seeded payments; raise --payments", file=sys.stderr)
    return result


def run(port: int, payments: list[dict[str, Any]], args: argparse.Namespace) -> list[Result]:
    """Fresh events first (they use up payments), then duplicates and bad signatures."""
    results = [asyncio.run(fresh_events(port, payments, args.concurrency, args.seconds))]
    body = _event(payments[0], "evt_bench_duplicate")
    for name, headers, ok in (
        ("duplicates of one event", _headers(body), 200),
        ("bad signature (400)", _headers(body, "whsec_wrong"), 400),
    ):
        results.append(
            asyncio.run(
                measure(
                    name,
                    port,
                    PATH,
                    method="POST",
                    headers=headers,
                    body=body,
                    concurrency=args.concurrency,
                    seconds=args.seconds,
                    ok=frozenset({ok}),
                )
            )
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--payments", type=int, default=20_000)
    args = parser.parse_args()
    with embedded_keel(
        ["bookings", "payments"],
        DATABASE,
        {
            "KEEL_PLUGINS__PAYMENTS__SECRET_KEY": "sk_test_bench_unused",
            "KEEL_PLUGINS__PAYMENTS__WEBHOOK_SECRET": SECRET,
        },
    ) as (stack, env):
        port = free_port()
        with process(keel_argv(port), env, f"http://127.0.0.1:{port}/health/live"):
            seeded = asyncio.run(seed(str(stack.overrides["database.url"]), args.payments))
            results = run(port, seeded, args)
    print(
        f"\nkeel serve (1 process, bookings + payments), {args.concurrency} connections, "
        f"{args.seconds:.0f} s each"
    )
    print(f"{'POST /api/webhooks/stripe':<40}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for r in results:
        print(f"{r.name:<40}{r.rps:>8.0f}{r.p50:>9.1f}{r.p99:>9.1f}{r.errors:>8}")


if __name__ == "__main__":
    main()
