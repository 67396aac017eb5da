"""flavors, flavor profiles, availability zones and availability zone profiles

Revision ID: 0005
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "flavor_profile",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("provider_name", sa.String(255), nullable=False),
        sa.Column("flavor_data", sa.String(4096), nullable=False),
    )
    op.create_table(
        "flavor",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.String(255), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("flavor_profile_id", sa.String(36),
                  sa.ForeignKey("flavor_profile.id", name="fk_flavor_flavor_profile"),
                  nullable=False),
        sa.UniqueConstraint("name", name="uq_flavor_name"),
    )
    op.create_index("ix_flavor_flavor_profile_id", "flavor", ["flavor_profile_id"])
    op.create_table(
        "availability_zone_profile",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("provider_name", sa.String(255), nullable=False),
        sa.Column("availability_zone_data", sa.String(4096), nullable=False),
    )
    op.create_table(
        "availability_zone",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("description", sa.String(255), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("availability_zone_profile_id", sa.String(36),
                  sa.ForeignKey("availability_zone_profile.id",
                                name="fk_availability_zone_availability_zone_profile"),
                  nullable=False),
    )
    op.create_index("ix_availability_zone_availability_zone_profile_id", "availability_zone",
                    ["availability_zone_profile_id"])


def downgrade() -> None:
    op.drop_index("ix_availability_zone_availability_zone_profile_id", "availability_zone")
    op.drop_table("availability_zone")
    op.drop_table("availability_zone_profile")
    op.drop_index("ix_flavor_flavor_profile_id", "flavor")
    op.drop_table("flavor")
    op.drop_table("flavor_profile")
