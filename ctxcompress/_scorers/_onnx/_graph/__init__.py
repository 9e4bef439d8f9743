"""ONNX graphs built from Hugging Face weights without torch.

From a model directory (``config.json``, ``model.safetensors``, ``tokenizer.json``, and
for sentence-transformers bi-encoders ``modules.json`` / ``1_Pooling``) this writes the
ctxcompress model directory ``ctxcompress export`` writes, using only numpy, safetensors,
onnx and onnxruntime: BERT (incl. MiniLM), RoBERTa and XLM-RoBERTa encoders, as a
cross-encoder (``*ForSequenceClassification`` head, ``logits``) or a bi-encoder (pooled,
normalised ``embeddings`` and ``token_embeddings``). Other architectures raise
``UnsupportedModelError``, which points to ``ctxcompress export``.
"""

from ._build import BuildReport, build_graph, build_model_dir
from ._spec import ModelSpec, Pooling, UnsupportedModelError, read_pooling, read_spec
from ._weights import Weights, load_weights

__all__ = [
    "BuildReport",
    "ModelSpec",
    "Pooling",
    "UnsupportedModelError",
    "Weights",
    "build_graph",
    "build_model_dir",
    "load_weights",
    "read_pooling",
    "read_spec",
]
