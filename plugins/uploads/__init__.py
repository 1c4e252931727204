"""Uploads: ``/api/uploads`` and the ``uploads.make_thumbnail`` job (an essential plugin,
on unless ``[plugins] disabled = ["uploads"]``).

Files stream to a staging file (size, count and type checked as they arrive; the type is
sniffed from the bytes), then go to a :class:`~plugins.uploads.storage.Storage` (a local
directory by default) under a server-generated name; the record lives in the ``uploads``
collection. Images get a WebP thumbnail from a job on the ``image`` queue.
"""
