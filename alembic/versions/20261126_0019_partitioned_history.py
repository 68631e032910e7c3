"""partitioned history: monthly partitions on PostgreSQL, weekly roll-ups, retention settings,
connector check history

On PostgreSQL each history table becomes a table partitioned by month on its time column, with a
partition for every month holding rows, the current month and the next two, and a default
partition; the rows are copied, the indexes and foreign keys recreated. Every unique key of a
partitioned table holds the partition key, so the primary keys gain the time column. On SQLite
the tables stay plain; those keyed by a natural key take the time column into their primary key
too (the upserts' conflict target is the same on both databases).

Revision ID: 0019partitions
Revises: 0016escalate
Create Date: 2026-11-26 02:46:57.774262
"""

import warnings
from collections.abc import Sequence
from datetime import UTC, date, datetime

import sqlalchemy as sa
import sqlmodel
from sqlalchemy.exc import SAWarning

import opssight.models.base
from alembic import op

revision: str = "0019partitions"
down_revision: str | None = "0016escalate"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AHEAD = 2  # months created ahead of the current one
# table, partition key, primary key before this revision (a serial id first: kept on SQLite)
TABLES = (
    ("workflow_job", "created_at", ("id",)),
    ("alert_transition", "at", ("id",)),
    ("kube_event", "created_at", ("cluster", "uid")),
    ("kube_restart", "at", ("cluster", "pod_uid", "container", "restart_count")),
    ("automation_result", "ended_at", ("task_id", "host")),
)
SERIAL_KEYED = {"alert_transition"}


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _now() -> sa.BindParameter:
    return sa.bindparam("now", datetime.now(UTC), type_=opssight.models.base.UTCDateTime())


def _next(month: date, steps: int = 1) -> date:
    index = month.year * 12 + month.month - 1 + steps
    return date(index // 12, index % 12 + 1, 1)


def _create_partitions(parent: str, table: str, months: set[date]) -> None:
    """``table``'s partitions (named after it) on ``parent``: these months, the current one and
    the next ones, and the default partition."""
    this = datetime.now(UTC).date().replace(day=1)
    wanted = months | {_next(this, n) for n in range(AHEAD + 1)}
    for month in sorted(wanted):
        op.execute(
            f"CREATE TABLE {table}_p{month:%Y%m} PARTITION OF {parent}"
            f" FOR VALUES FROM ('{month} 00:00:00+00') TO ('{_next(month)} 00:00:00+00')"
        )
    op.execute(f"CREATE TABLE {table}_default PARTITION OF {parent} DEFAULT")


def _dependents(table: str) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """The table's index definitions (not its primary key), foreign keys and serial columns."""
    bind = op.get_bind()
    oid = {"t": table}
    indexes = bind.execute(
        sa.text(
            "SELECT pg_get_indexdef(indexrelid) FROM pg_index"
            " WHERE indrelid = CAST(:t AS regclass) AND NOT indisprimary ORDER BY indexrelid"
        ),
        oid,
    ).scalars()
    foreign = bind.execute(
        sa.text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = CAST(:t AS regclass) AND contype = 'f' ORDER BY conname"
        ),
        oid,
    ).all()
    serials = bind.execute(
        sa.text(
            "SELECT attname, pg_get_serial_sequence(:t, attname) FROM pg_attribute"
            " WHERE attrelid = CAST(:t AS regclass) AND attnum > 0 AND NOT attisdropped"
            " AND pg_get_serial_sequence(:t, attname) IS NOT NULL"
        ),
        oid,
    ).all()
    # a partitioned table's index is defined ON ONLY the parent: recreated on a plain one
    plain = [d.replace(" ON ONLY ", " ON ") for d in indexes]
    constraints = [f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {d}' for name, d in foreign]
    return plain, constraints, [(name, sequence) for name, sequence in serials]


def _rebuild(table: str, key: tuple[str, ...], partition_by: str | None) -> None:
    """Copy ``table`` into a new table (partitioned by ``partition_by``, or plain), then put it
    in its place with the same indexes, foreign keys and sequences, keyed by ``key``."""
    indexes, foreign, serials = _dependents(table)
    spec = f" PARTITION BY RANGE ({partition_by})" if partition_by else ""
    op.execute(f"CREATE TABLE {table}__new (LIKE {table} INCLUDING DEFAULTS){spec}")
    if partition_by:
        found = op.get_bind().execute(
            sa.text(
                f"SELECT DISTINCT CAST(date_trunc('month', {partition_by} AT TIME ZONE 'UTC')"
                f" AS date) FROM {table}"
            )
        )
        _create_partitions(f"{table}__new", table, set(found.scalars()))
    op.execute(f"INSERT INTO {table}__new SELECT * FROM {table}")
    for _, sequence in serials:
        op.execute(f"ALTER SEQUENCE {sequence} OWNED BY NONE")
    op.execute(f"DROP TABLE {table}")
    op.execute(f"ALTER TABLE {table}__new RENAME TO {table}")
    for column, sequence in serials:
        op.execute(f"ALTER SEQUENCE {sequence} OWNED BY {table}.{column}")
    op.execute(f"ALTER TABLE {table} ADD PRIMARY KEY ({', '.join(key)})")
    for statement in indexes + foreign:
        op.execute(statement)


def _sqlite_key(table: str, key: tuple[str, ...], column: str, *, nullable: bool) -> None:
    """SQLite: the table copied with this primary key (and ``column``'s NOT NULL)."""
    with warnings.catch_warnings():
        # batch mode warns that the copied columns' primary key flags differ from the new key
        warnings.filterwarnings("ignore", "Table '_alembic_tmp_", SAWarning)
        with op.batch_alter_table(table, recreate="always") as batch_op:
            batch_op.alter_column(
                column, existing_type=opssight.models.base.UTCDateTime(), nullable=nullable
            )
            batch_op.create_primary_key(f"pk_{table}", list(key))


def _rollup_tables() -> None:
    op.create_table(
        "alert_transition_weekly",
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("rule", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("severity", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("firings", sa.Integer(), nullable=False),
        sa.Column("resolutions", sa.Integer(), nullable=False),
        sa.Column("acknowledgements", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("week", "source", "rule", "severity"),
    )
    op.create_table(
        "automation_result_weekly",
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("host", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("ok", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("unreachable", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("week", "host"),
    )
    op.create_table(
        "connector_check_weekly",
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("checks", sa.Integer(), nullable=False),
        sa.Column("ok", sa.Integer(), nullable=False),
        sa.Column("p95_latency_ms", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("week", "name"),
    )
    op.create_table(
        "kube_event_weekly",
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("cluster", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("namespace", sqlmodel.sql.sqltypes.AutoString(length=253), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("warnings", sa.Integer(), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("week", "cluster", "namespace"),
    )
    op.create_table(
        "kube_restart_weekly",
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("cluster", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("namespace", sqlmodel.sql.sqltypes.AutoString(length=253), nullable=False),
        sa.Column("restarts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("week", "cluster", "namespace"),
    )
    op.create_table(
        "workflow_job_weekly",
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("repository", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("workflow", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("jobs", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("p50_seconds", sa.Float(), nullable=True),
        sa.Column("p95_seconds", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("week", "repository", "workflow"),
    )
    op.create_table(
        "retention_setting",
        sa.Column("table_name", sqlmodel.sql.sqltypes.AutoString(length=63), nullable=False),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("updated_at", opssight.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("table_name"),
    )


def _connector_check(postgresql: bool) -> None:
    key = ("id", "at") if postgresql else ("id",)
    op.create_table(
        "connector_check",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("at", opssight.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(*key),
        postgresql_partition_by="RANGE (at)",
    )
    if postgresql:
        _create_partitions("connector_check", "connector_check", set())
    op.create_index("ix_connector_check_name_at", "connector_check", ["name", "at"])


def upgrade() -> None:
    postgresql = _postgresql()
    _rollup_tables()
    _connector_check(postgresql)
    with op.batch_alter_table("kube_event", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("created_at", opssight.models.base.UTCDateTime(timezone=True))
        )
    op.execute(
        sa.text("UPDATE kube_event SET created_at = COALESCE(last_seen, :now)").bindparams(_now())
    )
    op.execute(
        sa.text(
            "UPDATE workflow_job SET created_at = COALESCE(started_at, completed_at,"
            " (SELECT r.created_at FROM workflow_run r"
            "  WHERE r.run_id = workflow_job.run_id AND r.attempt = workflow_job.attempt),"
            " :now) WHERE created_at IS NULL"
        ).bindparams(_now())
    )
    for table, column, key in TABLES:
        if postgresql:
            op.alter_column(table, column, nullable=False)
            _rebuild(table, (*key, column), column)
        elif table not in SERIAL_KEYED:
            _sqlite_key(table, (*key, column), column, nullable=False)


def downgrade() -> None:
    postgresql = _postgresql()
    for table, column, key in reversed(TABLES):
        if postgresql:
            _rebuild(table, key, None)
        elif table not in SERIAL_KEYED:
            _sqlite_key(table, key, column, nullable=False)
    with op.batch_alter_table("workflow_job", schema=None) as batch_op:
        batch_op.alter_column(
            "created_at", existing_type=opssight.models.base.UTCDateTime(), nullable=True
        )
    with op.batch_alter_table("kube_event", schema=None) as batch_op:
        batch_op.drop_column("created_at")
    op.drop_index("ix_connector_check_name_at", table_name="connector_check")
    op.drop_table("connector_check")
    for table in (
        "retention_setting",
        "workflow_job_weekly",
        "kube_restart_weekly",
        "kube_event_weekly",
        "connector_check_weekly",
        "automation_result_weekly",
        "alert_transition_weekly",
    ):
        op.drop_table(table)
