# The Ready4Hire Trainer image: the web server, the Celery workers and beat all run from it (compose.yaml).
#   docker build -t ready4hire-trainer .                                   core: grading, curation, exports
#   docker build -t ready4hire-trainer:train --build-arg EXTRAS=train .    + fine-tuning (the training worker)
FROM python:3.11-slim

# Extras of pyproject.toml to install besides the core: "" or "train" (its torch is the CPU wheel).
ARG EXTRAS=""
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    MEDIA_ROOT=/data/media \
    DJANGO_STATIC_ROOT=/app/staticfiles

RUN python -m venv /opt/venv && useradd --create-home --uid 10001 --user-group ready4hire
WORKDIR /app
COPY . .
# Editable, so that templates/, locale/ and manage.py are found beside the code (settings' BASE_DIR).
RUN pip install ${EXTRAS:+--extra-index-url "$TORCH_INDEX_URL"} -e ".${EXTRAS:+[$EXTRAS]}" \
    && python manage.py collectstatic --noinput -v0 \
    && mkdir -p /data/media \
    && chown ready4hire:ready4hire /data/media

USER ready4hire
EXPOSE 8000
# The web server by default; compose.yaml gives each worker and beat its own command.
ENV HOST=0.0.0.0 PORT=8000
CMD ["deploy/serve.sh"]
