# citybrain's server and CLI; the database is a separate PostGIS service (docker-compose.yml).
FROM python:3.11-slim-bookworm AS app
ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 CITYBRAIN_HOST=0.0.0.0
WORKDIR /app
COPY pyproject.toml README.md ./
COPY citybrain ./citybrain
COPY layers ./layers
COPY alerts ./alerts
RUN pip install -e . \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin citybrain \
    && mkdir -p /var/lib/citybrain/photos && chown citybrain /var/lib/citybrain/photos
# Photos from the field app (content-addressed files): a volume, shared by every node.
ENV CITYBRAIN_PHOTO_DIR=/var/lib/citybrain/photos
# Not root: the server needs no privilege of its own (it listens on 8000, dispatch on 8001).
USER citybrain
EXPOSE 8000 8001
CMD ["sh", "-c", "citybrain db migrate && citybrain seed --if-empty --incidents ${CITYBRAIN_SEED_INCIDENTS:-100000} && exec citybrain serve"]

# The test suite's image: the test tools, GDAL, Chromium, Node.js and the npm tools.
FROM app AS test
USER root
RUN apt-get update && apt-get install -y --no-install-recommends gdal-bin chromium \
        fonts-wqy-microhei nodejs npm && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
RUN pip install -e '.[dev,planning]'
COPY tests ./tests
COPY scripts ./scripts
RUN mkdir -p test-output && chown -R citybrain /app/test-output
USER citybrain
CMD ["pytest"]
