# ctxcompress serve on a CPU, with the model baked into the image.
#
#   docker build -t ctxcompress-serve --build-arg MODEL=hub:<owner>/<name> .
#   docker run --rm -p 8080:8080 -e CTXCOMPRESS_SERVE_KEY=... ctxcompress-serve
#
# MODEL is any spec `ctxcompress pull` can fetch: `default`, or a Hugging Face repository
# (hub:<owner>/<name>, its own ONNX files or built from safetensors without torch). For a
# model directory of your own, replace that step with `COPY my-reranker /models/my-reranker`
# and MODEL=/models/my-reranker.
# GPU image: see "Serving over HTTP" in README.md.
FROM python:3.12-slim

ARG MODEL
ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CTXCOMPRESS_CACHE_DIR=/models/ctxcompress \
    HF_HOME=/models/huggingface \
    TIKTOKEN_CACHE_DIR=/models/tiktoken \
    MODEL=${MODEL}

WORKDIR /src
COPY pyproject.toml README.md ./
COPY ctxcompress ./ctxcompress
RUN pip install ".[serve,onnx,hub]" && rm -rf /src

# Bake the model in at build time; at run time nothing is downloaded.
RUN test -n "$MODEL" || (echo "build with --build-arg MODEL=<spec>" >&2; exit 1) \
    && ctxcompress pull "$MODEL" \
    && python -c "import tiktoken; tiktoken.get_encoding('o200k_base')"  # token budgets
ENV HF_HUB_OFFLINE=1

RUN useradd --system --no-create-home ctxcompress && chown -R ctxcompress /models
USER ctxcompress
WORKDIR /tmp
EXPOSE 8080

# Bound to all interfaces inside the container, so requests need the key from
# CTXCOMPRESS_SERVE_KEY. SIGTERM (docker stop) drains: accepted requests are answered
# before the process exits 0; give it time with `docker stop -t 60`.
CMD ["sh", "-c", "exec ctxcompress serve --scorer \"$MODEL\" --host 0.0.0.0 --port 8080 --api-key-env CTXCOMPRESS_SERVE_KEY"]
