"""Every scorer: the protocol and base class, the spec registry, and each backend.

Layout: ``_base`` (the :class:`Scorer` protocol, :class:`BaseScorer` with its one hook
``_score``, the :class:`Scores` value), ``_registry`` (spec strings -> scorers), ``_bm25``,
``_default/`` (the fused default: embedded MiniLM, late interaction, shipped weights),
``_onnx/`` (local ONNX models), ``_remote/`` (rerank APIs), and the wrappers ``_cascade``,
``_cached`` and ``_calibrated``. Nothing here imports the compressor or anything above it.
"""
