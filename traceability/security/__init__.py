"""Credentials: password hashing, session tokens, CSRF tokens."""
