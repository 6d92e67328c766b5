"""A Flask application using Flask-RQ2 the way its documentation shows.

Import it (``import flask_rq2_app``) rather than running it as a script: the job functions
must live in an importable module, as in any real application, so a worker in another
process (``flask rq worker``) can import them. ``RQ_REDIS_URL`` comes from the environment
variable of that name; the queue is QUEUE.

``python -c "import flask_rq2_app; flask_rq2_app.main()"`` queues ``add`` with ``.queue``
and ``.schedule`` (due at once), moves the scheduled one to the queue with
``rq.get_scheduler()``, runs ``rq.get_worker().work(burst=True)`` and prints one JSON
object with each job's id, status, result and class.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta

from flask import Flask, current_app
from flask_rq2 import RQ

QUEUE = "flask-rq2"

app = Flask(__name__)
app.config["RQ_REDIS_URL"] = os.environ["RQ_REDIS_URL"]
app.config["RQ_QUEUES"] = [QUEUE]
rq = RQ(app)


@rq.job(QUEUE, timeout=30, result_ttl=600)
def add(x, y):
    """Add two numbers, inside the application context Flask-RQ2's job class provides."""
    return {"sum": x + y, "app": current_app.name}


def main() -> None:
    with app.app_context():
        queued = add.queue(2, 3, job_id="flask-rq2-queued")
        scheduled = add.schedule(timedelta(seconds=0), 4, 5, job_id="flask-rq2-scheduled")
        rq.get_scheduler(interval=1).enqueue_jobs()
        waiting = rq.get_queue(QUEUE).get_job_ids()
        rq.get_worker().work(burst=True)
        report = {}
        for job in (queued, scheduled):
            job.refresh()
            report[job.id] = {
                "status": job.get_status(),
                "result": job.return_value(),
                "class": type(job).__module__ + "." + type(job).__qualname__,
            }
        print(json.dumps({"jobs": report, "waiting": waiting}, default=str))
