"""L7 policies and rules

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _owned() -> list[sa.Column]:
    """The columns every tenant-visible object has (models._Owned)."""
    return [
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("provisioning_status", sa.String(length=16), nullable=False),
        sa.Column("operating_status", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "l7policy",
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("listener_id", sa.String(length=36), nullable=False),
        sa.Column("action", sa.String(length=36), nullable=False),
        sa.Column("redirect_pool_id", sa.String(length=36), nullable=True),
        sa.Column("redirect_url", sa.String(length=255), nullable=True),
        sa.Column("redirect_prefix", sa.String(length=255), nullable=True),
        sa.Column("redirect_http_code", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        *_owned(),
        sa.ForeignKeyConstraint(["listener_id"], ["listener.id"]),
        sa.ForeignKeyConstraint(["redirect_pool_id"], ["pool.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("l7policy") as batch:
        batch.create_index(batch.f("ix_l7policy_listener_id"), ["listener_id"])
        batch.create_index(batch.f("ix_l7policy_redirect_pool_id"), ["redirect_pool_id"])
        batch.create_index(batch.f("ix_l7policy_project_id"), ["project_id"])
    op.create_table(
        "l7rule",
        sa.Column("l7policy_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=36), nullable=False),
        sa.Column("compare_type", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=True),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("invert", sa.Boolean(), nullable=False),
        *_owned(),
        sa.ForeignKeyConstraint(["l7policy_id"], ["l7policy.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("l7rule") as batch:
        batch.create_index(batch.f("ix_l7rule_l7policy_id"), ["l7policy_id"])
        batch.create_index(batch.f("ix_l7rule_project_id"), ["project_id"])


def downgrade() -> None:
    op.drop_table("l7rule")
    op.drop_table("l7policy")
