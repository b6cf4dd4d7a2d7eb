"""Use cases: each runs inside one unit of work handed in by the caller.

Services take a Session, an Actor and a time; they raise `traceability.errors` and
never know about HTTP.
"""
