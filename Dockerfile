# BudConnect: one image for the API replicas, the release tracker and one-off commands.
#   docker build -t budconnect .
#   docker run -p 8000:8000 budconnect            # SQLite in a volume, the bundled data
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md NOTICE ./
COPY src ./src
RUN pip install --no-cache-dir --root-user-action=ignore --prefix=/install .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --create-home --home-dir /app budconnect \
    && mkdir /app/data && chown budconnect /app/data
COPY --from=build /install /usr/local
USER budconnect
WORKDIR /app
ENV BUDCONNECT_DATABASE_URL=sqlite:////app/data/budconnect.db \
    PYTHONUNBUFFERED=1
VOLUME ["/app/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["budconnect"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
