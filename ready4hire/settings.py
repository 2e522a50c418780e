"""Settings for Ready4Hire Trainer.

Every value comes from the environment with a safe local default: SQLite, eager Celery and the heuristic
grader, so a fresh checkout starts with nothing configured. Production differs only by environment.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

_INSECURE_DEFAULT_KEY = "django-insecure-local-development-only"

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=_INSECURE_DEFAULT_KEY)
_MIN_SECRET_KEY_LENGTH = 50  # what `check --deploy` asks for: shorter keys can be guessed
if not DEBUG and (SECRET_KEY == _INSECURE_DEFAULT_KEY or len(SECRET_KEY) < _MIN_SECRET_KEY_LENGTH):
    raise ImproperlyConfigured(
        f"DJANGO_SECRET_KEY is {'not set' if SECRET_KEY == _INSECURE_DEFAULT_KEY else 'too short'}. With "
        f"DJANGO_DEBUG=false (production) a random key of at least {_MIN_SECRET_KEY_LENGTH} characters is "
        "required: export DJANGO_SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(50))')"
    )
ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# --- HTTPS (production) -----------------------------------------------------------------------------------
# On by default when DEBUG is off; each can be turned off for a deployment that terminates TLS elsewhere
# and talks plain HTTP on a private network. HSTS is opt-in: browsers remember it for its whole duration.
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
# Load balancers probe the health endpoint over plain HTTP: it answers there instead of redirecting.
SECURE_REDIRECT_EXEMPT = [r"^api/v1/health$"]
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
# Behind a TLS-terminating proxy: "HTTP_X_FORWARDED_PROTO=https" trusts that header to say the request
# was HTTPS. Set it only when the proxy always sets (or strips) the header, or clients could forge it.
_proxy_ssl_header = env.str("DJANGO_SECURE_PROXY_SSL_HEADER", default="")
if _proxy_ssl_header and "=" not in _proxy_ssl_header:
    raise ImproperlyConfigured("DJANGO_SECURE_PROXY_SSL_HEADER must look like HTTP_X_FORWARDED_PROTO=https.")
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header.split("=", 1)) if _proxy_ssl_header else None

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # ninja's own static files: Swagger UI served from this project, so the API docs work offline.
    "ninja",
    "django_celery_beat",
    "evaluation",
    "training",
]

MIDDLEWARE = [
    "ready4hire.middleware.RequestIdMiddleware",
    "ready4hire.middleware.ApiJsonErrorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The admin speaks the reviewer's language: the browser's Accept-Language, or the language cookie.
    # The Site* ones are Django's LocaleMiddleware, CsrfViewMiddleware, MessageMiddleware and
    # XFrameOptionsMiddleware for every path but /api/, which needs none of them (ready4hire/middleware.py).
    "ready4hire.middleware.SiteLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "ready4hire.middleware.SiteCsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "ready4hire.middleware.SiteMessageMiddleware",
    "ready4hire.middleware.SiteXFrameOptionsMiddleware",
]
# Django's checks that the CSRF and X-Frame-Options middlewares are on look for their own class paths; the
# same checks, counting the Site* wrappers, are ready4hire.W002/W003 (ready4hire.middleware.check_site_middleware).
SILENCED_SYSTEM_CHECKS = ["security.W002", "security.W003"]

ROOT_URLCONF = "ready4hire.urls"
WSGI_APPLICATION = "ready4hire.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=0))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The local default's commits were most of a grade's database time (an fsync each, benchmarks/grading.py
    # --profile hit): WAL commits without one (durable if the process dies; a power cut may lose the last
    # commits) and lets readers work while a batch writes. IMMEDIATE transactions take the write lock when
    # they begin, so two threads that write (a request, the job heartbeat) wait their turn instead of one
    # failing with "database is locked" when its read-then-write transaction cannot be upgraded.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL")
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
    DATABASES["default"]["OPTIONS"].setdefault("timeout", 20)  # seconds a writer waits for the lock
if env.bool("DATABASE_POOL", default=False):
    # psycopg's pool, one per process: a request's "close" hands its connection back instead of ending the
    # server process behind it, and the next request takes it without connecting and logging in again.
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_POOL=1 needs a PostgreSQL DATABASE_URL (postgres://...).")
    if DATABASES["default"]["CONN_MAX_AGE"]:
        raise ImproperlyConfigured("DATABASE_POOL=1 replaces persistent connections: leave DATABASE_CONN_MAX_AGE at 0.")
    pool_sizes = {
        "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=2),
        "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=16),
    }
    if not 0 <= pool_sizes["min_size"] <= pool_sizes["max_size"] or not pool_sizes["max_size"]:
        raise ImproperlyConfigured(
            "DATABASE_POOL_MAX_SIZE must be at least 1 and at least DATABASE_POOL_MIN_SIZE (0 or more)."
        )
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = pool_sizes
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
LANGUAGES = [("en", "English"), ("es", "Español")]
# The project's own catalogue (locale/es/LC_MESSAGES/django.po, compiled .mo committed beside it).
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=BASE_DIR / "staticfiles")
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")

# --- Logs and metrics -------------------------------------------------------------------------------------
# LOG_FORMAT=json: one JSON object per line (ready4hire/logs.py), with the request id of the request or task.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain").lower()
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json (got {LOG_FORMAT!r}).")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "ready4hire.middleware.RequestIdLogFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"},
        "json": {"()": "ready4hire.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}
# `GET /metrics` asks for `Authorization: Bearer <METRICS_TOKEN>` when it is set (PROMETHEUS_MULTIPROC_DIR,
# read by prometheus_client itself, makes it sum every server process: `make serve` sets it).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Under LOG_FORMAT=json the workers log through LOGGING too, instead of Celery's own plain-text handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = LOG_FORMAT != "json"

# --- Celery -------------------------------------------------------------------------------------------
# Without a broker the tasks run eagerly in the calling process: the local default needs no Redis.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Each task names its queue on its decorator (`queue_name`); one router reads it. A worker started without
# -Q serves every queue listed here (one machine); production starts one worker per queue (README).
CELERY_TASK_QUEUES = {name: {"routing_key": name} for name in ("evaluation", "exports", "training")}
CELERY_TASK_ROUTES = ("ready4hire.tasks.route_by_queue_name",)
CELERY_TASK_DEFAULT_QUEUE = "evaluation"
# Delivery per queue. Redis has one visibility timeout per broker connection, so it cannot differ by queue:
# it is kept short, for grading, whose tasks are acknowledged late and so redelivered when their worker dies
# (and above the longest retry countdown, 10 minutes, since Redis would redeliver a waiting retry too).
# Exports, fine-tune runs and comparisons are acknowledged on receipt instead: Redis never hands a run to a
# second worker while the first still trains; their heartbeat and the sweeper (ready4hire/jobs.py, beat every
# minute) restart or fail them when their worker dies.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=900)}
# The job sweeper's limits by kind of job, in seconds, over those each kind declares, e.g.
# JOB_LIMITS='{"evaluation": {"stale_after": 60, "max_runtime": 300, "max_attempts": 3}}'.
JOB_LIMITS = env.json("JOB_LIMITS", default={})
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
# Beat reads its schedule from the database (django-celery-beat): the periodic export and the scheduled
# retraining are rows the migrations create, editable in the admin; the interval settings only seed them.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- Rate limits and back-pressure (ready4hire/ratelimit.py) ---------------------------------------------
# Requests per API key, e.g. "120/m" or "10/s;1000/h" (empty: no limit); a key's own `rate_limit` (admin)
# overrides it. Counted where every web process sees the same counts: Redis (API_RATE_LIMIT_STORAGE, by
# default the broker when it is Redis), else the database.
API_RATE_LIMIT = env.str("API_RATE_LIMIT", default="")
API_RATE_LIMIT_STORAGE = env.str(
    "API_RATE_LIMIT_STORAGE", default=CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else ""
)
# `?wait=false` grading answers 429 while more than this many evaluations wait for a worker (0: no bound).
GRADING_MAX_PENDING = env.int("GRADING_MAX_PENDING", default=1000)

# --- Grading --------------------------------------------------------------------------------------------
LLM_BACKEND = env.str("LLM_BACKEND", default="none").lower()
# local: a Hugging Face checkpoint run in this process (the [train] extra); LLM_BASE_URL is its directory.
if LLM_BACKEND not in {"ollama", "openai", "local", "none"}:
    raise ImproperlyConfigured(f"LLM_BACKEND must be one of ollama, openai, local, none (got {LLM_BACKEND!r}).")
LLM_BASE_URL = env.str(
    "LLM_BASE_URL",
    default={"ollama": "http://127.0.0.1:11434", "openai": "http://127.0.0.1:8000"}.get(LLM_BACKEND, ""),
)
LLM_MODEL = env.str("LLM_MODEL", default="llama3.2:3b")
LLM_API_KEY = env.str("LLM_API_KEY", default="")
# Model names a grading request's `model` may name besides LLM_MODEL and the registered versions.
LLM_ALLOWED_MODELS = env.list("LLM_ALLOWED_MODELS", default=[])
LLM_TIMEOUT = env.float("LLM_TIMEOUT", default=60.0)
LLM_MAX_RETRIES = env.int("LLM_MAX_RETRIES", default=2)
LLM_RETRY_BACKOFF = env.float("LLM_RETRY_BACKOFF", default=0.5)
LLM_TEMPERATURE = env.float("LLM_TEMPERATURE", default=0.1)
LLM_NUM_PREDICT = env.int("LLM_NUM_PREDICT", default=1024)
LLM_SEED = env.int("LLM_SEED", default=42)
# Requests kept in flight to the LLM server by batch grading, comparisons, validation probes and the demo.
LLM_CONCURRENCY = env.int("LLM_CONCURRENCY", default=4)
if not 1 <= LLM_CONCURRENCY <= 256:
    raise ImproperlyConfigured(f"LLM_CONCURRENCY must be between 1 and 256 (got {LLM_CONCURRENCY}).")
GRADING_CACHE_TTL = env.int("GRADING_CACHE_TTL", default=7 * 24 * 3600)
GRADING_MAX_ANSWER_CHARS = env.int("GRADING_MAX_ANSWER_CHARS", default=20_000)
GRADING_MAX_QUESTION_CHARS = env.int("GRADING_MAX_QUESTION_CHARS", default=4_000)

# --- Dataset exports ------------------------------------------------------------------------------------
DATASET_EXPORT_MIN_NEW_EXAMPLES = env.int("DATASET_EXPORT_MIN_NEW_EXAMPLES", default=100)
DATASET_EXPORT_INTERVAL_MINUTES = env.int("DATASET_EXPORT_INTERVAL_MINUTES", default=60)
DATASET_EXPORT_NAME = env.str("DATASET_EXPORT_NAME", default="ready4hire")
DATASET_EXPORT_FORMAT = env.str("DATASET_EXPORT_FORMAT", default="messages")
DATASET_EXPORT_CHUNK_SIZE = env.int("DATASET_EXPORT_CHUNK_SIZE", default=2000)
# A running export whose worker died is taken over after this long (acks_late redelivers its task).
DATASET_EXPORT_STALE_MINUTES = env.int("DATASET_EXPORT_STALE_MINUTES", default=120)
# What TRAINING_GUIDE.md fills in: the Hugging Face base model and the chat template its trainers use.
DATASET_EXPORT_BASE_MODEL = env.str("DATASET_EXPORT_BASE_MODEL", default="unsloth/Llama-3.2-3B-Instruct")
DATASET_EXPORT_CHAT_TEMPLATE = env.str("DATASET_EXPORT_CHAT_TEMPLATE", default="llama3")

# --- Model versions, comparisons and promotion -----------------------------------------------------------
# Comparisons grade with each model at LLM_TEMPERATURE, seeding repeat r with the comparison's seed + r.
COMPARISON_BOOTSTRAP_RESAMPLES = env.int("COMPARISON_BOOTSTRAP_RESAMPLES", default=1000)
COMPARISON_MAX_REPEATS = env.int("COMPARISON_MAX_REPEATS", default=10)
# A running comparison whose worker died is taken over after this long (acks_late redelivers its task).
COMPARISON_STALE_MINUTES = env.int("COMPARISON_STALE_MINUTES", default=360)
# The promotion gate every comparison evaluates for each model after the first (the base); `promote`
# refuses a version that failed it unless forced. 0.2 for the original's "20% better than its base" target.
PROMOTION_GATE_MIN_SCHEMA_VALID = env.float("PROMOTION_GATE_MIN_SCHEMA_VALID", default=0.99)
PROMOTION_GATE_QWK_LOWER_ABOVE_BASE = env.bool("PROMOTION_GATE_QWK_LOWER_ABOVE_BASE", default=True)
PROMOTION_GATE_MIN_QWK_IMPROVEMENT = env.float("PROMOTION_GATE_MIN_QWK_IMPROVEMENT", default=0.0)
# Retraining on schedule: beat asks every interval whether the newest export has at least N more examples
# than the last run's, and if so starts a fine-tune run like the last one on it (training queue). Beat's
# periodic task runs either way and does nothing while the setting is off; the interval only seeds its row.
FINETUNE_SCHEDULE_ENABLED = env.bool("FINETUNE_SCHEDULE_ENABLED", default=False)
FINETUNE_SCHEDULE_MIN_NEW_EXAMPLES = env.int("FINETUNE_SCHEDULE_MIN_NEW_EXAMPLES", default=500)
FINETUNE_SCHEDULE_INTERVAL_MINUTES = env.int("FINETUNE_SCHEDULE_INTERVAL_MINUTES", default=24 * 60)
# Calibration (training/calibration.py): a grader's raw scores mapped to the reviewers' scale, fitted per grader
# and category from at least CALIBRATION_MIN_EXAMPLES reviewed examples; beat refits one when it has
# CALIBRATION_REFIT_MIN_NEW_REVIEWS more than its last fit. The agreement monitor reads the last N reviews.
CALIBRATION_MIN_EXAMPLES = env.int("CALIBRATION_MIN_EXAMPLES", default=30)
CALIBRATION_REFIT_MIN_NEW_REVIEWS = env.int("CALIBRATION_REFIT_MIN_NEW_REVIEWS", default=20)
AGREEMENT_MONITOR_LAST_REVIEWS = env.int("AGREEMENT_MONITOR_LAST_REVIEWS", default=200)

# --- Modelfiles and Ollama model management --------------------------------------------------------------
# The Ollama server Modelfiles are pushed to and models are listed, shown and deleted on: by default the
# grading server when it is Ollama, none otherwise (pushing then fails with a clear message).
OLLAMA_ADMIN_URL = env.str("OLLAMA_ADMIN_URL", default=LLM_BASE_URL if LLM_BACKEND == "ollama" else "")
# Creating a model from a multi-gigabyte GGUF file takes minutes, so the admin calls wait much longer than a grade.
OLLAMA_ADMIN_TIMEOUT = env.float("OLLAMA_ADMIN_TIMEOUT", default=600.0)
OLLAMA_ADMIN_MAX_RETRIES = env.int("OLLAMA_ADMIN_MAX_RETRIES", default=2)
OLLAMA_ADMIN_RETRY_BACKOFF = env.float("OLLAMA_ADMIN_RETRY_BACKOFF", default=1.0)
# `validate_model` and the validation task pass a model when at least these shares of the probe grades are
# valid JSON and follow the grade schema.
MODEL_VALIDATION_MIN_VALID_JSON = env.float("MODEL_VALIDATION_MIN_VALID_JSON", default=0.9)
MODEL_VALIDATION_MIN_SCHEMA_VALID = env.float("MODEL_VALIDATION_MIN_SCHEMA_VALID", default=0.9)

# --- Fine-tuning, GGUF and serving with llama.cpp ---------------------------------------------------------
# Runs write under FINETUNE_OUTPUT_ROOT/run-<id>/ (empty: MEDIA_ROOT/finetune); the versions they register
# are FINETUNE_MODEL_NAME:vN, and an --init-tiny run also registers its random starting point as
# FINETUNE_TINY_BASE_NAME:vN (kind "base"), so base and fine-tuned can be compared.
FINETUNE_OUTPUT_ROOT = env.str("FINETUNE_OUTPUT_ROOT", default="")
# Paths named through the API, the admin or a scheduled job (Modelfile FROM/ADAPTER, a fine-tune run's base
# model, GGUF files) must lie inside MEDIA_ROOT, the fine-tune output folder or one of these folders.
ALLOWED_MODEL_DIRS = env.list("ALLOWED_MODEL_DIRS", default=[])
FINETUNE_MODEL_NAME = env.str("FINETUNE_MODEL_NAME", default="ready4hire")
FINETUNE_TINY_BASE_NAME = env.str("FINETUNE_TINY_BASE_NAME", default="ready4hire-tiny-base")
FINETUNE_TINY_VOCAB_SIZE = env.int("FINETUNE_TINY_VOCAB_SIZE", default=4096)
FINETUNE_GGUF_DTYPE = env.str("FINETUNE_GGUF_DTYPE", default="f16")  # f16 or f32
FINETUNE_EVALUATIONS = env.int("FINETUNE_EVALUATIONS", default=4)  # validation-loss passes per run
FINETUNE_EVAL_MAX_EXAMPLES = env.int("FINETUNE_EVAL_MAX_EXAMPLES", default=64)
# A llama.cpp checkout: its convert_hf_to_gguf.py converts the architectures our own GGUF writer does not.
LLAMA_CPP_DIR = env.str("LLAMA_CPP_DIR", default="")
# A run may take hours: the task is killed past this limit, and the sweeper takes back a run still running
# after it. Its task is acknowledged on receipt, so Redis never hands it to a second worker (see Celery above).
FINETUNE_TASK_TIME_LIMIT = env.int("FINETUNE_TASK_TIME_LIMIT", default=12 * 3600)
# llama-cpp-python's OpenAI-compatible server, started on a free loopback port to serve a GGUF version.
LLAMA_SERVER_STARTUP_TIMEOUT = env.float("LLAMA_SERVER_STARTUP_TIMEOUT", default=120.0)
LLAMA_SERVER_N_CTX = env.int("LLAMA_SERVER_N_CTX", default=4096)
LLAMA_SERVER_THREADS = env.int("LLAMA_SERVER_THREADS", default=0)  # 0: llama.cpp's choice
