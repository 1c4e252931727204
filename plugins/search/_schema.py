"""The tantivy schema of the index: services and users in one index, one document each.

Text is tokenized in Python (:mod:`plugins.search.text`) and indexed as space-separated
words with tantivy's ``whitespace`` tokenizer, so indexing and querying fold case and
accents the same way. What is served (the hit JSON) is stored as bytes, ready to send.
"""

from __future__ import annotations

import os

import tantivy

# tantivy searches on a rayon thread pool with one thread per core; its idle threads
# spin, and with an API process per core they starve each other: at 100,000 services
# and 16 clients, service search did 142 req/s with the pool and 853 with one thread
# (bench/search.py). rayon reads this when its pool starts (the first search), and every
# search goes through this module; an explicit value is kept.
os.environ.setdefault("RAYON_NUM_THREADS", "1")

SCHEMA_VERSION = 2
"""Bumped whenever the schema changes: an index of another version is rebuilt."""
SERVICE_FIELDS = (("s_name", 3), ("s_cat", 2), ("s_desc", 1))
"""Service text fields and their weights (name above category above description)."""
USER_FIELDS = (("u_name", 3), ("u_email", 1))
LATER = 3
"""Name positions with an autocomplete field of their own (from the 2nd, 3rd, 4th+ word)."""


def _later(prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(1, LATER + 1))


AC_SETS: dict[tuple[str, bool], tuple[tuple[str, ...], ...]] = {
    ("services", False): (("ac_s0",), _later("ac_s")),
    ("services", True): (("ac_s0",), _later("ac_s")),
    ("users", False): (("ac_u0",), _later("ac_u")),
    ("users", True): (("ac_x0",), _later("ac_x"), ("ac_e0", *_later("ac_e"))),
}
"""Autocomplete groups in the order they are tried: whole names, then names from a later
word on (then, for admins, emails). Each field holds one untokenized, sortable term
``"<words>\x01<id>"`` per document (the last one: every later position), so ordering
by the field is alphabetical, ties by id."""
KEY = "_k"
"""Suffix of an autocomplete field's companion: its first 8 bytes as a sortable integer."""
SEP = "\x01"
"""Separates an autocomplete term's text from the id (sorts below every letter)."""


def build_schema() -> tantivy.Schema:
    """The schema (see the module docstring)."""
    sb = tantivy.SchemaBuilder()
    for name in ("key", "space", "flag", "cat"):
        sb.add_text_field(name, stored=name == "key", tokenizer_name="raw", index_option="basic")
    sb.add_text_field("cat_label", tokenizer_name="raw", fast=True, index_option="basic")
    for name, _ in (*SERVICE_FIELDS, *USER_FIELDS):
        sb.add_text_field(name, tokenizer_name="whitespace", index_option="basic")
    for name in sorted({f for groups in AC_SETS.values() for g in groups for f in g}):
        sb.add_text_field(name, tokenizer_name="raw", fast=True, index_option="basic")
        sb.add_integer_field(name + KEY, indexed=True)
    for name in ("id_hi", "id_lo", "created"):
        sb.add_integer_field(name, fast=True)
    sb.add_integer_field("price", fast=True, indexed=True)
    sb.add_float_field("rating", fast=True, indexed=True)
    for name in ("body", "body_x", "sugg"):
        sb.add_bytes_field(name, stored=True)
    return sb.build()


SCHEMA = build_schema()
