# kontent-bridge: one container, embedded SQLite store under /data, config at /config/rules.yaml.
#   docker build -t kontent-bridge .
#   docker run -p 8080:8080 -v "$PWD/rules.yaml:/config/rules.yaml:ro" -v bridge-data:/data \
#     -e KONTENT_WEBHOOK_SECRET kontent-bridge
# See docs/container.md.

# --- builder: a virtualenv with the bridge and its dependencies ---------------------------------
FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/bridge
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bridge ./bridge
# The SDKs of the optional actions (azure_search, translate, mastodon, bluesky), so that every
# built-in action runs in the image; `--build-arg EXTRAS=` builds a smaller image without them.
ARG EXTRAS=azure,translate,mastodon,bluesky
RUN /opt/bridge/bin/pip install ".${EXTRAS:+[$EXTRAS]}"

# --- runtime: the virtualenv only, run as an unprivileged user ----------------------------------
FROM python:3.11-slim
ENV PATH=/opt/bridge/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    BRIDGE_CONFIG=/config/rules.yaml \
    BRIDGE_DB=sqlite:////data/bridge.db \
    BRIDGE_HOST=0.0.0.0 \
    BRIDGE_PORT=8080
# uid and gid 10001: a host directory mounted at /data must be writable by them (chown 10001:10001).
RUN groupadd --system --gid 10001 bridge \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --shell /usr/sbin/nologin bridge \
    && mkdir -p /data /config \
    && chown 10001:10001 /data
COPY --from=builder /opt/bridge /opt/bridge
COPY rules.example.yaml /config/rules.yaml
USER bridge
WORKDIR /data
VOLUME /data
EXPOSE 8080
# No curl in slim images: Python asks /healthz itself.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('BRIDGE_PORT', '8080')}/healthz\", timeout=4)"]
CMD ["bridge", "serve"]
