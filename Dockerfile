# AgentMesh: one image for every role (api, worker, migrate, dev).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . && useradd --system --uid 10001 agentmesh
USER agentmesh
EXPOSE 8000
ENTRYPOINT ["agentmesh"]
CMD ["api", "--host", "0.0.0.0"]
