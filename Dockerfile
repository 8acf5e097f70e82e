# syntax=docker/dockerfile:1

# Both base images can be replaced (CI builds them from Debian's packages, .ci/image): the
# Python one must have python3.11 on PATH and apt, the uv one /uv and /uvx at its root.
ARG PYTHON_IMAGE=python:3.11-slim
# Pinned to the uv that wrote uv.lock; bump together.
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

# ---- builder: resolve the locked environment into /app/.venv -------------------------------
FROM ${PYTHON_IMAGE} AS builder

COPY --from=uv /uv /uvx /bin/

# Use the image's python3.11 (the same path in the runtime stage), never a
# uv-managed download; compile bytecode once here; copy out of the cache mount, not hardlink.
ENV UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=python3.11 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy

WORKDIR /app

# Dependencies only: this layer is rebuilt only when pyproject.toml or uv.lock change. The
# `otel` extra lets the container export traces once OTEL_EXPORTER_OTLP_ENDPOINT is set.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --extra otel --no-install-project

# Then the project itself (.dockerignore keeps the host's .venv, data and .env out).
COPY . .
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --extra otel

# ---- runtime ----------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}

# bubblewrap: execute_command's sandbox when AGENT_RUNTIME__WORKSPACE_ROOT is set (unprivileged
# user namespaces must be allowed by the host for it to work as a non-root user).
RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin app

WORKDIR /app

# Code and venv stay root-owned (read-only for the app); only the data dir is writable.
COPY --from=builder /app /app
RUN mkdir -p /app/data && chown app:app /app/data

ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    AGENT_RUNTIME__HOST=0.0.0.0 \
    AGENT_RUNTIME__LOG_FORMAT=json

USER 10001:10001

EXPOSE 8001

# The slim image has no curl; urlopen raises (exit 1) on refusal, timeout or a non-2xx status.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8001/health', timeout=4)"]

CMD ["agent-hub", "serve"]
