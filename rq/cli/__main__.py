"""``python -m rq.cli``: the ``rq`` command."""

from rq.cli import main

if __name__ == "__main__":
    main(prog_name="rq")
