# fraud-consumer: slim, non-root. Build: docker build -t fraud-consumer .
# With Ray for `batch --engine ray`: docker build --build-arg EXTRAS=ray -t fraud-consumer-ray .
ARG EXTRAS=""
FROM python:3.11-slim AS build
ARG EXTRAS
WORKDIR /src
# libgomp1: LightGBM's OpenMP runtime; build-essential: a C compiler for the scoring
# core's Cython parts (the wheel built here carries them; the runtime image has no compiler).
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 build-essential \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml setup.py README.md ./
COPY consumer ./consumer
COPY schemas ./schemas
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".${EXTRAS:+[$EXTRAS]}"

FROM python:3.11-slim
ARG EXTRAS
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin scorer
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels "fraud-consumer${EXTRAS:+[$EXTRAS]}" \
    && rm -rf /wheels
WORKDIR /app
COPY --chown=root:root models ./models
USER 10001
# 9108: the scorer's /metrics /healthz /readyz; 8080: the API (`serve`)
EXPOSE 9108 8080
ENV PYTHONUNBUFFERED=1 FRAUD_LOG_FORMAT=json FRAUD_MODEL=/app/models
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9108/healthz', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["fraud-consumer"]
CMD ["run"]
