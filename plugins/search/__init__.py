"""The search plugin: global search, service search and autocomplete.

Design, in short:

* The index lives in Valkey (shared by every API process and worker), under
  ``<key prefix>:search``: per-word postings (sorted sets id -> field weight), a
  vocabulary per word family (lexicographic sorted set: prefix expansion with
  ``ZRANGEBYLEX``), a SymSpell deletion neighbourhood of the vocabulary (typo
  candidates, checked with a bounded Damerau-Levenshtein distance), sort/filter
  sorted sets (price, rating, created), lexicographic autocomplete sets and the
  finished JSON of every hit. Each query is one atomic Lua script call (see
  :mod:`plugins.search._lua`), results included, cached in Valkey under a version
  bumped by every change.
* Text is NFKD-decomposed, stripped of accents and case-folded; all words must match,
  the last one as a prefix; typos as Meilisearch by default (1 from 5 letters, 2 from 9).
  Relevance: exact 16 > prefix 4 > one typo 1 > two typos 0.5, times the field weight
  (name 3, category 2, description 1), summed over the query's words.
* Durable listeners of ``service.*`` and ``user.*`` keep it current; every write is
  revision-checked (services: the snapshot's ``revision``; users: ``updated_at``) and
  deletions leave tombstones, so late, repeated or reordered events are harmless.
* The plugin keeps the newest snapshot of each service in MongoDB
  (``search_services``); ``keel search reindex`` and the ``search.reindex`` job rebuild
  the index from it and the core's ``users`` collection into a new generation and
  swap it in atomically.
"""
