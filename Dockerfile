# duplistatus in a container. `docker build -t duplistatus .`, then compose.yaml (SQLite) or
# compose.postgres.yaml. Runs as an unprivileged user (uid 10001), keeps everything in the
# /data volume, listens on 9666, honours TZ, and reports its health from /api/health.
#
# BASE may be any Debian trixie image with Python ≥ 3.12 and python3-venv; CI builds one from
# Debian's packages (docker/check-image.sh), since it cannot pull from a registry.
ARG BASE=python:3.13-slim-trixie

FROM ${BASE} AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# npm and uv trust the system's certificate store (with any CA a build host adds to the base).
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt
WORKDIR /app
# The pages' front-end libraries, pinned in package-lock.json.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
# The Python environment from uv.lock, without the development tools.
RUN python3 -m venv /opt/uv && /opt/uv/bin/pip install --no-cache-dir --quiet uv
ENV UV_PYTHON=python3 UV_PYTHON_DOWNLOADS=never UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
COPY pyproject.toml uv.lock README.md ./
RUN /opt/uv/bin/uv sync --frozen --no-dev --no-install-project --no-cache
COPY duplistatus ./duplistatus
RUN /opt/uv/bin/uv sync --frozen --no-dev --no-cache
# The translations, compiled here: the service's user cannot write under /app.
RUN .venv/bin/python -c "from duplistatus.i18n import compile_catalogues; compile_catalogues()"

FROM ${BASE}
# tzdata: schedules follow TZ (e.g. -e TZ=Europe/Berlin).
RUN apt-get update \
    && apt-get install -y --no-install-recommends tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin duplistatus \
    && mkdir /data && chown duplistatus /data && chmod 0700 /data
WORKDIR /app
COPY --from=build /app /app
COPY docker/healthcheck.py /app/docker/healthcheck.py
ENV PATH=/app/.venv/bin:$PATH \
    DUPLISTATUS_DATA_DIR=/data \
    PORT=9666 \
    TZ=UTC \
    PYTHONUNBUFFERED=1
USER duplistatus
VOLUME /data
EXPOSE 9666
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "/app/docker/healthcheck.py"]
CMD ["duplistatus", "serve"]
