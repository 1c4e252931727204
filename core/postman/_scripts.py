"""The JavaScript of the collection's pre-request and test scripts (Postman sandbox)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

RETRIES = 30
"""How often a request waiting for background work (``until``) is sent again."""
RETRY_DELAY_MS = 500


def checks(
    name: str,
    status: int,
    keys: Sequence[str],
    saves: Mapping[str, str],
    until: str = "",
) -> list[str]:
    """The test script: wait (``until``), check status and body shape, save variables.

    Args:
        name: the request's name (``setNextRequest`` target while waiting).
        status: the documented success status.
        keys: required top-level keys of the documented response body.
        saves: variable name -> JavaScript expression over ``body`` (the parsed JSON).
        until: a JavaScript condition over ``body``; while false the request is sent
            again, up to :data:`RETRIES` times, before its tests run.
    """
    lines = [
        "const text = pm.response.text();",
        "let body = null;",
        "try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }",
    ]
    if until:
        counter = json.dumps(f"retries:{name}")
        lines += [
            f"const tries = Number(pm.variables.get({counter}) || 0);",
            f"if (pm.response.code === {status} && !({until}) && tries < {RETRIES}) {{",
            f"    pm.variables.set({counter}, tries + 1);",
            f"    setTimeout(() => {{}}, {RETRY_DELAY_MS});",
            f"    pm.execution.setNextRequest({json.dumps(name)});",
            "    return;",
            "}",
            f"pm.variables.set({counter}, 0);",
        ]
    lines += [
        f"pm.test('status is {status}', () => pm.response.to.have.status({status}));",
    ]
    if keys:
        lines += [
            f"pm.test('body has {', '.join(keys)}', () => {{",
            "    pm.expect(body, text).to.be.an('object');",
            f"    pm.expect(body).to.include.keys({json.dumps(list(keys))});",
            "});",
        ]
    if until:
        lines.append(f"pm.test('background work done', () => pm.expect({until}).to.be.true);")
    for var, expression in saves.items():
        lines += [
            f"try {{ const value = {expression};",
            "    if (value !== undefined && value !== null) "
            f"{{ pm.environment.set({json.dumps(var)}, String(value)); }}",
            "} catch (e) { /* left as it was */ }",
        ]
    return lines


def mailbox(var: str, subject: str, pattern: str) -> str:
    """A pre-request script that reads ``var`` from the newest development mail.

    Polls ``/dev/mailbox`` (``keel run`` only) for the newest message to
    ``{{newUserEmail}}`` whose subject contains ``subject`` and sets ``var`` to the first
    group of ``pattern`` in it. Mail goes out from the worker, so it may take a moment.
    """
    return f"""const base = pm.environment.get('baseUrl') || pm.variables.get('baseUrl');
const email = pm.environment.get('newUserEmail');
const subject = {json.dumps(subject)};
const wanted = new RegExp({json.dumps(pattern)});
function look(tries) {{
    pm.sendRequest(base + '/dev/mailbox', (err, res) => {{
        const rows = (err || !res) ? [] : res.text().split('<tr>');
        const row = rows.find((r) => r.includes(email) && r.includes(subject));
        const name = row && (row.match(/href='mailbox\\/([0-9]+\\.eml)'/) || [])[1];
        if (!name) {{
            if (tries > 0) {{ setTimeout(() => look(tries - 1), {RETRY_DELAY_MS}); }}
            return;
        }}
        pm.sendRequest(base + '/dev/mailbox/' + name, (e2, message) => {{
            const found = message && message.text().match(wanted);
            if (found) {{ pm.environment.set({json.dumps(var)}, found[1]); }}
        }});
    }});
}}
look({RETRIES});"""


BOOKING_START = """// a slot no earlier run took: the day and hour follow the clock's minute
const minute = Math.floor(Date.now() / 60000);
const day = new Date();
day.setUTCDate(day.getUTCDate() + 1 + (minute % 700));
day.setUTCHours(2 * (Math.floor(minute / 700) % 6), 0, 0, 0);
pm.environment.set('bookingStart', day.toISOString());
day.setUTCHours(day.getUTCHours() + 12);
pm.environment.set('secondBookingStart', day.toISOString());"""
"""Sets ``bookingStart`` and ``secondBookingStart`` (12 hours later), 1 to 700 days
ahead, on the hour: the demo provider keeps every earlier run's bookings."""

STRIPE_SIGNATURE = """const secret = pm.environment.get('stripeWebhookSecret');
const event = {
    id: 'evt_postman_' + Date.now(),
    object: 'event',
    type: 'payment_intent.created',
    created: Math.floor(Date.now() / 1000),
    data: { object: {
        id: pm.environment.get('stripePaymentIntentId'),
        object: 'payment_intent',
        status: 'requires_payment_method',
        metadata: { keel_payment_id: pm.environment.get('paymentId') },
    } },
};
const payload = JSON.stringify(event);
const t = Math.floor(Date.now() / 1000);
const signature = CryptoJS.HmacSHA256(t + '.' + payload, secret).toString(CryptoJS.enc.Hex);
pm.environment.set('webhookPayload', payload);
pm.environment.set('stripeSignature', 't=' + t + ',v1=' + signature);"""
"""Builds a Stripe event (``webhookPayload``) and its ``Stripe-Signature`` header value,
signed with ``stripeWebhookSecret`` (localstripe's public one under ``keel run``)."""

NEW_USER = """pm.environment.set('newUserEmail', 'postman.' + Date.now() + '@example.com');
pm.environment.set('newUserPassword', 'postman passphrase ' + Date.now());"""
"""A fresh address and password for the account the collection registers on each run."""

SKIP_WITHOUT = "if (!pm.environment.get({var})) {{ pm.execution.skipRequest(); }}"
"""Pre-request: skip the request when the variable it needs was never set."""
