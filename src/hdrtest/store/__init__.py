"""Everything hdrtest keeps on disk between runs, under one cache directory.

``results`` is the SQLite result cache (``database`` underneath it); ``namespaces``
is the registry of the content-keyed side caches beside it; ``commands`` is
``hdrtest cache``.  This file imports nothing so that a low-level module (``compile``)
can use ``store.location`` without loading the result cache, which imports it back.
"""
