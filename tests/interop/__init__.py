"""Mixed-fleet tests against upstream RQ releases."""
