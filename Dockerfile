# TableTalk: the REST API and chat webhooks in one aiohttp service.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TABLETALK_HOME=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY core ./core
COPY bot ./bot
COPY adapters ./adapters
COPY config ./config
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 1000 tabletalk \
    && mkdir -p /data && chown tabletalk /data

USER tabletalk
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz')"
CMD ["tabletalk", "serve", "--host", "0.0.0.0", "--port", "8080"]
