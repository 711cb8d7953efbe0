# The production image: the web pages built with Node, then the sipingtai package with its
# locked dependencies serving them.
FROM node:20-slim AS pages
WORKDIR /pages
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 SIPINGTAI_DATA_DIR=/data \
    SIPINGTAI_FRONTEND_DIR=/app/frontend/dist
WORKDIR /app
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock
COPY pyproject.toml README.md alembic.ini ./
COPY geo ./geo
COPY dispatch ./dispatch
COPY service ./service
RUN pip install --no-cache-dir --no-deps . && mkdir -p /data
COPY --from=pages /pages/dist ./frontend/dist
EXPOSE 8000
# No per-connection websocket compression: a board frame goes to many clients (README).
CMD ["uvicorn", "service.app:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000", \
     "--ws-per-message-deflate", "false"]
