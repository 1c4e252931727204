# syntax=docker/dockerfile:1
# keel's production image: `docker build -t keel .`, then `docker run keel` (API) or
# `docker run keel worker` (queue workers and the scheduler); compose.yaml runs both.
#
# NOT BUILT HERE: no container engine runs on keel's development or CI machines, so no
# build has checked this file. What it runs is what tests/e2e/test_production_install.py
# runs for real on every `make test`: the same wheel build (`pip wheel --no-deps`), the same
# install command (`pip install --no-compile -c constraints.txt <wheel>`, no `dev` extra,
# so no GPL package) and the same KEEL_* environment (docs/deploy.md lists it). Change one
# and you change the other.

ARG PYTHON_VERSION=3.11

# --- build: the wheel, from the sources only ----------------------------------------------
FROM python:${PYTHON_VERSION}-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY core ./core
COPY plugins ./plugins
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

# --- runtime: the wheel and its dependencies, nothing else --------------------------------
FROM python:${PYTHON_VERSION}-slim AS runtime
ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/keel --create-home keel \
    && install -d -o keel -g keel -m 0750 /var/lib/keel/uploads \
    && install -d -o keel -g keel -m 0700 /var/lib/keel/backups
COPY constraints.txt /tmp/constraints.txt
COPY --from=build /dist/ /tmp/dist/
# Byte-compiled once here, by root, since the keel user cannot write site-packages.
RUN python -m pip install --no-cache-dir --no-compile -c /tmp/constraints.txt /tmp/dist/keel-*.whl \
    && python -m compileall -q "$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
    && rm -rf /tmp/dist /tmp/constraints.txt

USER keel
# No config.toml: every setting comes from the environment (or mount one and set KEEL_CONFIG).
WORKDIR /var/lib/keel
ENV KEEL_APP__ENV=production \
    KEEL_SERVER__HOST=0.0.0.0 \
    KEEL_SERVER__PORT=8000 \
    KEEL_UPLOADS__DIR=/var/lib/keel/uploads \
    KEEL_PLUGINS__CRON__BACKUP_DIR=/var/lib/keel/backups
EXPOSE 8000
# Liveness only (the process serves HTTP); orchestrators should gate traffic on
# /health/ready. compose.yaml turns this off for `keel worker`, which serves no HTTP.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/live' % os.environ.get('KEEL_SERVER__PORT', '8000'), timeout=2)"]
ENTRYPOINT ["keel"]
CMD ["serve"]
