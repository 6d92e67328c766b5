"""The version of this distribution.

``VERSION`` is the upstream RQ API level this package is a drop-in for, in plain numbers
(``tuple(map(int, VERSION.split(".")))`` works, as code written for upstream RQ expects), so
tools that pin ``rq>=2.x`` accept it. ``BUILD`` names this fork's own build.
"""

VERSION = "2.12.0"

BUILD = "2.12.0+resilient.1"
"""This fork's build identity: the API level above plus a local label."""
