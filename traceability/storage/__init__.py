"""Storage: SQLModel tables, engines, units of work and migrations (SQLite and PostgreSQL)."""
