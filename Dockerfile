# One image for every ocop-live process; the command picks the role
# (`ocop-live worker`, `ocop-live web`, `ocop-live simulate`, …).
# deploy/ stays out of the image: docker-compose.yml mounts it into Prometheus,
# Alertmanager and Grafana.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY common common
COPY store store
COPY counting counting
COPY streams streams
COPY consumers consumers
COPY web web
COPY ingest ingest
COPY reports reports
COPY cli cli
# The development tools give the image `ocop-live simulate` for a rehearsal fair; the
# product packages above never import them.
COPY devtools devtools
RUN pip install --no-cache-dir .
# Worker /metrics and /healthz (OCOP_WORKER_METRICS_PORT), web server (OCOP_WEB_PORT),
# ingest gateway (OCOP_INGEST_PORT).
EXPOSE 6066 8080 8090
USER nobody
ENTRYPOINT ["ocop-live"]
