"""Domain rules as plain Python: no FastAPI, no database imports here."""
