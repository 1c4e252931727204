"""The search plugin: global search, service search and autocomplete.

Design, in short:

* The index is a tantivy index on each host's local disk, under
  ``[plugins.search] index_dir``: services and users in one index, text tokenized in
  Python (:mod:`plugins.search.text`) so both sides fold case and accents alike, and
  the served JSON stored with each document. Every process opens a reader that
  reloads the latest commit every ``refresh_ms``; one process per host (``keel
  worker`` or ``keel run``, holding ``writer.lock``) writes it.
* Text is NFKD-decomposed, stripped of accents and case-folded; all words must match,
  the last one as a prefix; typos as Meilisearch by default (1 from 5 letters, 2 from 9).
  Relevance: exact 16 > prefix 4 > one typo 1 > two typos 0.5, times the field weight
  (name 3, category 2, description 1), summed over the query's words (constant-score
  clauses in a disjunction-max per word).
* Durable listeners of ``service.*`` and ``user.*`` save the new state in MongoDB
  (services: the newest snapshot by ``revision`` in ``search_services``, with
  tombstones) and append the id to a change feed (a Valkey stream). Each host's writer
  reads the feed from its own cursor, re-reads those documents and commits a batch, so
  every index sees every change and late, repeated or reordered events are harmless.
* ``keel search reindex``, the ``search.reindex`` job and a writer that finds no usable
  index build a new generation from MongoDB and swap it in; the feed is replayed from
  where the build started, so nothing changed meanwhile is lost.
"""
