# The crmsync image for Docker and Kubernetes work pools (README "Scaling out"):
#   docker build -t crmsync:0.1.0 .
# Dependencies come from uv.lock exactly (uv sync --frozen), without the dev group; the sandbox
# extra is left out (production talks to the real CRMs). The flows run from /app, the pull step
# of prefect.yaml (CRMSYNC_PROJECT_DIR).
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim AS build
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# The locked dependencies first, in their own layer: a code change does not reinstall them.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY crmsync ./crmsync
COPY flows ./flows
COPY tasks ./tasks
COPY mappings ./mappings
COPY expectations ./expectations
COPY prefect.yaml ./
RUN uv sync --frozen --no-dev

FROM python:${PYTHON_VERSION}-slim
WORKDIR /app
COPY --from=build /app /app
RUN useradd --system --uid 10001 --home-dir /var/lib/crmsync --create-home crmsync
ENV PATH=/app/.venv/bin:$PATH \
    CRMSYNC_PROJECT_DIR=/app \
    CRMSYNC_HOME=/var/lib/crmsync \
    PREFECT_SERVER_ANALYTICS_ENABLED=false
USER crmsync
# A work pool's job runs its own command (prefect flow-run execute); this is for a look around.
CMD ["crmsync", "--help"]
