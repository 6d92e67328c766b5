"""Default values shared by the enqueue side, the worker and the command line."""

DEFAULT_JOB_CLASS = "rq.job.Job"
DEFAULT_QUEUE_CLASS = "rq.Queue"
DEFAULT_WORKER_CLASS = "rq.Worker"
DEFAULT_SERIALIZER_CLASS = "rq.serializers.DefaultSerializer"
DEFAULT_CONNECTION_CLASS = "redis.Redis"
DEFAULT_DEATH_PENALTY_CLASS = "rq.timeouts.UnixSignalDeathPenalty"

DEFAULT_WORKER_TTL = 420
DEFAULT_JOB_MONITORING_INTERVAL = 30
DEFAULT_RESULT_TTL = 500
DEFAULT_FAILURE_TTL = 31536000  # one year
DEFAULT_SCHEDULER_FALLBACK_PERIOD = 120
DEFAULT_MAINTENANCE_TASK_INTERVAL = 600
CALLBACK_TIMEOUT = 60
DEFAULT_JOB_TIMEOUT = 180

DEFAULT_LOGGING_DATE_FORMAT = "%H:%M:%S"
DEFAULT_LOGGING_FORMAT = "%(asctime)s %(message)s"

UNSERIALIZABLE_RETURN_VALUE_PAYLOAD = "Unserializable return value"

DEFAULT_CRON_JOB_HISTORY_LIMIT = 1000
DEFAULT_CRON_JOB_HISTORY_TTL = 31536000
DEFAULT_CRON_SCHEDULER_TTL = 120

# Seconds a worker's hash outlives the end of its own heartbeat period.
WORKER_KEY_GRACE = 60
# Seconds a dead worker's hash is kept so tools can show its death.
DEAD_WORKER_TTL = 60
# Maintenance lock TTL (longer than any pass should take).
MAINTENANCE_LOCK_TTL = 899
# Seconds an id may sit in an intermediate list before maintenance rescues it.
INTERMEDIATE_STUCK_AFTER = 60
# Approximate cap of the results stream of one job.
RESULTS_STREAM_MAXLEN = 10
