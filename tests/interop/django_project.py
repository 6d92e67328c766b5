"""A minimal Django project using django-rq, written by the tests into a temporary folder.

The project has the admin (where django-rq hangs its statistics page), django-rq's own URLs,
one view that enqueues jobs, and a ``tasks`` module with a job declared through
``django_rq.job``. Its Redis URL comes from the environment (``REDIS_URL_VAR``), so one
generated project serves every test while each test brings a freshly flushed server.

django-rq 4.x imports ``rq.cron`` at start-up, which this package does not have yet. A
project written with ``cron_standin=True`` registers a two-name stand-in for that module,
and only when ``import rq.cron`` fails, so the rest of django-rq can still be exercised;
once ``rq.cron`` exists the stand-in is never used.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

REDIS_URL_VAR = "INTEROP_DJANGO_REDIS_URL"
PACKAGE = "interop_site"
QUEUES = ("default", "emails")
JOB_QUEUE = "emails"
# DEFAULT_RESULT_TTL of the job queue: proves jobs go through django-rq's Queue subclass.
QUEUE_RESULT_TTL = 4321
ADMIN_USER = "admin"
ADMIN_PASSWORD = "interop-admin-password"
ADMIN_EMAIL = "admin@example.com"
# Job ids the enqueue view uses, so the test knows them even for jobs enqueued on commit.
FAILING_JOB_ID = "django-failing-job"
DECORATED_JOB_ID = "django-decorated-job"
FAILURE_MESSAGE = "raised in a django-rq job"

_MANAGE = """\
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{package}.settings")
    {standin}
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
"""

_STANDIN_HOOK = """try:
        import rq.cron  # noqa: F401
    except ImportError:
        import rq_cron_standin

        rq_cron_standin.install()"""

_STANDIN = '''\
"""Stand-in for ``rq.cron``, registered only while the installed rq has no such module.

django-rq imports ``CronJob`` and ``CronScheduler`` from it at start-up and lists running
cron schedulers on its statistics page; this stand-in reports none.
"""

import logging
import sys
import types


class CronJob:
    pass


class CronScheduler:
    def __init__(self, connection=None, logging_level=logging.INFO, name=""):
        self.connection = connection
        self.name = name

    @classmethod
    def all(cls, connection, cleanup=True):
        return []


def install():
    import rq

    module = types.ModuleType("rq.cron", __doc__)
    module.CronJob = CronJob
    module.CronScheduler = CronScheduler
    sys.modules["rq.cron"] = module
    rq.cron = module
'''

_SETTINGS = """\
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "interop-tests-only"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "{package}.urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True
STATIC_URL = "static/"
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_rq",
    "{package}",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {{
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {{
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        }},
    }}
]
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}}}
REDIS_URL = os.environ.get("{redis_url_var}", "redis://127.0.0.1:1/0")
RQ_QUEUES = {{
    "default": {{"URL": REDIS_URL}},
    "{job_queue}": {{"URL": REDIS_URL, "DEFAULT_RESULT_TTL": {result_ttl}}},
}}
"""

_TASKS = """\
from django_rq import job


@job("{job_queue}")
def multiply(x, y):
    return x * y
"""

_VIEWS = """\
from django.db import transaction
from django.http import JsonResponse

import django_rq

from .tasks import multiply


def enqueue(request):
    # Inside a transaction django-rq holds the enqueue back until the commit.
    with transaction.atomic():
        django_rq.get_queue("{job_queue}").enqueue(
            "interop_jobs.fail", "{failure_message}", job_id="{failing_job_id}"
        )
    decorated = multiply.delay(6, 7, job_id="{decorated_job_id}")
    return JsonResponse({{"failing": "{failing_job_id}", "decorated": decorated.id}})
"""

_URLS = """\
from django.contrib import admin
from django.urls import include, path

from . import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("django-rq/", include("django_rq.urls")),
    path("enqueue/", views.enqueue),
]
"""


def write_project(directory: Path, cron_standin: bool) -> Path:
    """Write the project into ``directory``; returns the folder holding ``manage.py``."""
    package = directory / PACKAGE
    package.mkdir(parents=True)
    values = {
        "package": PACKAGE,
        "standin": _STANDIN_HOOK if cron_standin else "",
        "redis_url_var": REDIS_URL_VAR,
        "job_queue": JOB_QUEUE,
        "result_ttl": QUEUE_RESULT_TTL,
        "failure_message": FAILURE_MESSAGE,
        "failing_job_id": FAILING_JOB_ID,
        "decorated_job_id": DECORATED_JOB_ID,
    }
    files = {
        directory / "manage.py": _MANAGE,
        package / "__init__.py": "",
        package / "settings.py": _SETTINGS,
        package / "tasks.py": _TASKS,
        package / "views.py": _VIEWS,
        package / "urls.py": _URLS,
    }
    for path, template in files.items():
        path.write_text(textwrap.dedent(template).format(**values))
    if cron_standin:
        (directory / "rq_cron_standin.py").write_text(_STANDIN)
    return directory
