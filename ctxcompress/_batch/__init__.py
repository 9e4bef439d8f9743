"""The batch job behind ``ctxcompress batch`` and ``ctxcompress.ray``.

Modules: ``_inputs`` (documents and criteria files, checked before work), ``_work`` (one
document's compression and output rows, shared by both engines), ``_output`` (atomic Parquet
blocks, resume bookkeeping, manifest), ``_local`` (the in-process engine) and
``_ray_engine`` (Ray Data; imported only when used, it needs the ``ray`` extra).
"""
