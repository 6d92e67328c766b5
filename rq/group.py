"""``Group``: jobs enqueued together under one name, kept in the set ``rq:group:<name>``.

Every group name is also listed in ``rq:groups``. A group set holds job ids only; the
jobs themselves live and expire as usual, and ``cleanup`` drops the ids of jobs that are
gone. Redis deletes a set when its last member goes, so a group whose jobs have all
expired simply stops existing (``fetch`` then raises ``NoSuchGroupError``).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Iterable, Optional

from redis import Redis

from . import layout
from .exceptions import NoSuchGroupError
from .layout import as_text

if TYPE_CHECKING:
    from redis.client import Pipeline

    from .job import Job
    from .queue import EnqueueData, Queue

__all__ = ["Group"]

# KEYS: the group index, then the set of each group named in ARGV; unlists the empty ones.
_UNLIST_EMPTY_GROUPS = """
for i, name in ipairs(ARGV) do
  if redis.call('EXISTS', KEYS[i + 1]) == 0 then
    redis.call('SREM', KEYS[1], name)
  end
end
return 0
"""


class Group:
    """A named set of jobs; ``name`` defaults to a random hex id."""

    REDIS_GROUP_NAME_PREFIX = layout.GROUP_PREFIX
    REDIS_GROUP_KEY = layout.GROUPS_KEY

    def __init__(self, connection: Redis, name: Optional[str] = None) -> None:
        self.name = name or uuid.uuid4().hex
        self.connection = connection
        self.key = self.get_key(self.name)

    def __repr__(self) -> str:
        return f"Group(id={self.name})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Group) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    @classmethod
    def get_key(cls, name: str) -> str:
        """Key of the set holding the group's job ids."""
        return layout.group_key(name)

    @classmethod
    def create(cls, connection: Redis, name: Optional[str] = None) -> "Group":
        """A new group object; nothing is written until jobs are enqueued in it."""
        return cls(connection, name=name)

    @classmethod
    def fetch(cls, name: str, connection: Redis) -> "Group":
        """The group called ``name``; ``NoSuchGroupError`` if it has no jobs left."""
        if not connection.exists(cls.get_key(name)):
            raise NoSuchGroupError(f"No such group: {name}")
        return cls(connection, name=name)

    @classmethod
    def all(cls, connection: Redis) -> list["Group"]:
        """Every existing group; names of groups that are gone are dropped from the index."""
        names = _texts(connection.smembers(cls.REDIS_GROUP_KEY))
        if not names:
            return []
        with connection.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.exists(cls.get_key(name))
            alive = pipe.execute()
        gone = [name for name, exists in zip(names, alive) if not exists]
        if gone:  # checked again in the script: a group may have been refilled meanwhile
            keys = [cls.REDIS_GROUP_KEY, *(cls.get_key(name) for name in gone)]
            connection.eval(_UNLIST_EMPTY_GROUPS, len(keys), *keys, *gone)
        return [cls(connection, name=name) for name, exists in zip(names, alive) if exists]

    @classmethod
    def clean_registries(cls, connection: Redis) -> None:
        """Drop ids of vanished jobs from every group, then the names of emptied groups."""
        for group in cls.all(connection):
            group.cleanup()
        cls.all(connection)  # a group whose last job id went is now unlisted

    def enqueue_many(
        self, queue: "Queue", job_datas: Iterable["EnqueueData"], pipeline: Optional["Pipeline"] = None
    ) -> list["Job"]:
        """Enqueue ``job_datas`` on ``queue`` as members of this group (on ``pipeline`` if given)."""
        return queue.enqueue_many(list(job_datas), pipeline=pipeline, group_id=self.name)

    def get_job_ids(self) -> list[str]:
        """Ids in the group set, sorted (vanished jobs included until ``cleanup``)."""
        return _texts(self.connection.smembers(self.key))

    def get_jobs(self, job_class: Optional[type["Job"]] = None, serializer: Any = None) -> list["Job"]:
        """The group's jobs that still exist (ids of vanished jobs are cleaned up first)."""
        from .job import Job

        self.cleanup()
        job_class = job_class or Job
        jobs = job_class.fetch_many(self.get_job_ids(), self.connection, serializer=serializer)
        return [job for job in jobs if job is not None]

    def delete_job(self, job_id: str, pipeline: Optional["Pipeline"] = None) -> None:
        """Take ``job_id`` out of the group (the job itself is left alone)."""
        (pipeline if pipeline is not None else self.connection).srem(self.key, job_id)

    def cleanup(self) -> None:
        """Remove the ids of jobs whose hash no longer exists."""
        job_ids = self.get_job_ids()
        if not job_ids:
            return
        with self.connection.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.exists(layout.job_key(job_id))
            alive = pipe.execute()
        gone = [job_id for job_id, exists in zip(job_ids, alive) if not exists]
        if gone:
            self.connection.srem(self.key, *gone)


def _texts(members: Any) -> list[str]:
    """Set members (bytes or text) as sorted text."""
    return sorted(as_text(member) or "" for member in members)
