# The site's image: one image for every service (web, ws, worker, migrate).
# Build: docker build -t event-driven-django .   (docker compose up builds it for you)
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings

WORKDIR /app

# Dependencies first, from the project's own file, so code changes reuse this layer.
COPY pyproject.toml README.md ./
RUN mkdir channels_core config \
    && touch channels_core/__init__.py config/__init__.py \
    && pip install . \
    && pip uninstall -y event-driven-django \
    && rm -rf channels_core config

COPY . .

# Static files are collected at build time; WhiteNoise (and nginx) serve them.
# The key below only exists for this command; the real one comes from the environment.
RUN SECRET_KEY=collectstatic-only DEBUG=0 python manage.py collectstatic --no-input -v0

# An unprivileged user owns only what it must write: uploaded media.
RUN useradd --create-home --uid 10001 app \
    && mkdir -p /app/media \
    && chown app:app /app/media
USER 10001

EXPOSE 8000 8001
CMD ["gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi"]
