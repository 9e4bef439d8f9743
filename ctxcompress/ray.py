"""Compress a Ray Dataset of documents in a pool of actors (extra ``ctxcompress[ray]``).

::

    import ray
    from ctxcompress.ray import compress_dataset

    docs = ray.data.read_parquet("s3://bucket/documents/")  # doc_id + pages or text
    out = compress_dataset(docs, ["Is a failed trial of methotrexate documented?"],
                           scorer="default", actors=8, cpus_per_actor=2)
    out.write_parquet("s3://bucket/selections/")

``ctxcompress batch --engine ray`` runs the same pipeline from files, with resumable output.
"""

from __future__ import annotations

from ._batch._ray_engine import CriteriaArg, compress_dataset, result_schema

__all__ = ["CriteriaArg", "compress_dataset", "result_schema"]
