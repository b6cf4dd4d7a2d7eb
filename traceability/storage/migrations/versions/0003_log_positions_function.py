"""PostgreSQL: take the log lock and read the append positions in one round trip.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

On PostgreSQL every statement of the append path costs a network round trip. This
function takes the log's advisory lock and then reads the key's revocation, the log's
head and the subject's head; in READ COMMITTED each statement inside a VOLATILE
function takes a fresh snapshot, so the reads see everything committed before the
lock was granted. SQLite needs nothing: its write lock is BEGIN IMMEDIATE.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOG_LOCK = 0x7472616365  # traceability.custody_log.appender.PG_LOG_LOCK


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION.replace("LOG_LOCK", str(LOG_LOCK)))


FUNCTION = """
CREATE OR REPLACE FUNCTION trace_log_positions(
    p_key text, p_subject text,
    OUT revoked bigint, OUT last_idx bigint, OUT last_leaf bytea,
    OUT last_seq bigint, OUT seq_leaf bytea
) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(LOG_LOCK);
    SELECT revoked_index INTO revoked FROM key_revocations WHERE key_id = p_key;
    SELECT idx, leaf_hash INTO last_idx, last_leaf
        FROM log_entries ORDER BY idx DESC LIMIT 1;
    SELECT subject_seq, leaf_hash INTO last_seq, seq_leaf
        FROM log_entries WHERE subject = p_subject ORDER BY subject_seq DESC LIMIT 1;
END $$
"""


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS trace_log_positions(text, text)")
