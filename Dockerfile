# One image for every ocop-live process; the command picks the role
# (`ocop-live worker`, `ocop-live web`, `ocop-live simulate`, …).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY ocop_live ocop_live
COPY streams streams
COPY consumers consumers
COPY web web
RUN pip install --no-cache-dir .
USER nobody
ENTRYPOINT ["ocop-live"]
