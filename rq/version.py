"""The version of this distribution.

The public release segment tracks the upstream RQ 2.x API level it is a drop-in for,
so tools that pin ``rq>=2.x`` accept it; the local label names this fork.
"""

VERSION = "2.12.0+resilient.1"
