# SwisperStudio image for docker-compose.yml: the collector, the Studio API and the demo.
# Embedded servers are not installed: in Compose, Redis and PostgreSQL are their own services.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY exporter ./exporter
COPY instrumentation ./instrumentation
COPY collector ./collector
COPY demo ./demo
RUN pip install ".[langgraph,collector]" \
    && useradd --system --uid 10001 --no-create-home swisper

USER swisper
EXPOSE 8000
# SIGTERM (docker stop) lets the collector finish and ack its batch, and uvicorn drain requests.
STOPSIGNAL SIGTERM
CMD ["swisper-studio", "api", "--host", "0.0.0.0", "--port", "8000"]
