"""The traceability service: batch records, the custody log, the release gate.

This package may import `audit` and `labels`; they never import it back.
"""
