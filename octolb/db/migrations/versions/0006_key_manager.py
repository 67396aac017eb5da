"""key manager: secrets and containers of the built-in Barbican-shaped store

Revision ID: 0006
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "secret",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("project_id", sa.String(36), index=True),
        sa.Column("creator_id", sa.String(255)),
        sa.Column("name", sa.String(255)),
        sa.Column("secret_type", sa.String(32), nullable=False),
        sa.Column("algorithm", sa.String(255)),
        sa.Column("bit_length", sa.Integer()),
        sa.Column("mode", sa.String(255)),
        sa.Column("expiration", sa.DateTime()),
        sa.Column("content_type", sa.String(255)),
        sa.Column("payload", sa.LargeBinary()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime()),
    )
    op.create_table(
        "secret_container",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("project_id", sa.String(36), index=True),
        sa.Column("creator_id", sa.String(255)),
        sa.Column("name", sa.String(255)),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("secret_refs", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime()),
    )


def downgrade() -> None:
    op.drop_table("secret_container")
    op.drop_table("secret")
