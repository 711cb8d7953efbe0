# The production image: the sipingtai package with its locked dependencies.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 SIPINGTAI_DATA_DIR=/data
WORKDIR /app
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock
COPY pyproject.toml README.md alembic.ini ./
COPY geo ./geo
COPY dispatch ./dispatch
COPY service ./service
RUN pip install --no-cache-dir --no-deps . && mkdir -p /data
EXPOSE 8000
CMD ["uvicorn", "service.app:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000"]
