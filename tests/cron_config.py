"""Cron jobs declared for tests/test_cron.py, loaded by ``load_config_from_file`` and ``rq cron``."""

from rq import cron
from tests.jobs import add, say_hello

cron.register(add, "cron-default", args=(1, 2), interval=1)
cron.register(
    say_hello, "cron-low", kwargs={"name": "cron"}, cron="*/5 * * * *", job_timeout=30, name="hello-every-five"
)
