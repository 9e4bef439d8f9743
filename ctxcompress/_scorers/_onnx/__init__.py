"""Local ONNX rerankers: sessions with checked execution providers, model directories,
the cross-encoder and bi-encoder scorers."""

from ._bi_encoder import BiEncoder, BiEncoderScorer
from ._cross_encoder import PRECISION_FILES, CrossEncoderScorer
from ._decoder import DecoderRerankerScorer
from ._description import DESCRIPTION_FILE, ModelDescription, read_description
from ._model import Model
from ._session import create_session, resolve_providers

__all__ = [
    "DESCRIPTION_FILE",
    "PRECISION_FILES",
    "BiEncoder",
    "BiEncoderScorer",
    "CrossEncoderScorer",
    "DecoderRerankerScorer",
    "Model",
    "ModelDescription",
    "create_session",
    "read_description",
    "resolve_providers",
]
