"""Optional integrations with other tools (for example ``rq.contrib.sentry``)."""
