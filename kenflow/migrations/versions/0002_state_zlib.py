"""The zone row keeps its state compressed: `state_zlib` (zlib of the JSON) replaces `state_json`.

Every accepted act rewrites the zone row, and the state's JSON grows to ~20 KB over ten fiscal
years; compressed it is ~3 KB, the very bytes the zone sends its read model, which the writer
then stores without inflating them (bench/README item 22). Existing rows are converted here, in
batches, so no reader needs to know there were ever two forms.

On SQLite a column cannot become NOT NULL in place, so batch mode rebuilds the table; the child
tables' foreign keys would cascade the old table's drop into them, so kenflow.db.migrate runs
upgrades with foreign keys off and checks them before it commits (the procedure SQLite's
documentation gives for ALTER TABLE). On PostgreSQL these are plain ALTER TABLE statements.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 50  # rows converted at once (a bulk-imported zone's state can be MBs)

_ZONE = sa.table(
    'zone',
    sa.column('id', sa.String()),
    sa.column('state_json', sa.Text()),
    sa.column('state_zlib', sa.LargeBinary()),
)


def _convert(source: str, target: str, convert: Callable[[object], object]) -> None:
    """Fill `target` from `source` for every zone row, in batches by id."""
    conn = op.get_bind()
    src, dst = _ZONE.c[source], _ZONE.c[target]
    update = sa.update(_ZONE).where(_ZONE.c.id == sa.bindparam('b_id')).values({dst: sa.bindparam('b_value')})
    last = ''
    while True:
        rows = conn.execute(
            sa.select(_ZONE.c.id, src).where(_ZONE.c.id > last).order_by(_ZONE.c.id).limit(_BATCH)
        ).all()
        if not rows:
            return
        conn.execute(update, [{'b_id': zone_id, 'b_value': convert(value)} for zone_id, value in rows])
        last = rows[-1][0]


def _compress(text: object) -> bytes:
    return zlib.compress(str(text).encode(), 1)  # the level the zone workflow sends


def _inflate(blob: object) -> str:
    return zlib.decompress(bytes(blob)).decode()  # type: ignore[arg-type]


def _replace(old: str, new: str, new_type: sa.types.TypeEngine[object], convert: Callable[[object], object]) -> None:
    """Column `old` of the zone table becomes `new`, every row's value converted."""
    op.add_column('zone', sa.Column(new, new_type, nullable=True))
    _convert(old, new, convert)
    with op.batch_alter_table('zone', schema=None) as batch_op:
        batch_op.alter_column(new, existing_type=new_type, nullable=False)
        batch_op.drop_column(old)


def upgrade() -> None:
    _replace('state_json', 'state_zlib', sa.LargeBinary(), _compress)


def downgrade() -> None:
    _replace('state_zlib', 'state_json', sa.Text(), _inflate)
