"""Users and API tokens."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.time import utcnow
from crm.core.types import LabelledEnum, UTCDateTime, enum_column
from crm.extensions import db
from crm.reference.models import County, Department


class Role(LabelledEnum):
    ADMIN = "admin", "管理员"
    COORDINATOR = "coordinator", "协调员"
    COMMISSIONER = "commissioner", "服务专员"
    LEADER = "leader", "领导"
    LIAISON = "liaison", "部门联络员"


class Specialty(LabelledEnum):
    """A service commissioner's specialty (the plan's 科技、融资、法务、媒体、人才)."""

    TECH = "tech", "科技"
    FINANCE = "finance", "融资"
    LEGAL = "legal", "法务"
    MEDIA = "media", "媒体"
    TALENT = "talent", "人才"


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(80))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"))
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("departments.id"))
    county_id: Mapped[int | None] = mapped_column(sa.ForeignKey("counties.id"))
    phone: Mapped[str] = mapped_column(sa.String(32), default="")
    active: Mapped[bool] = mapped_column(default=True)
    # Part of the session id: bumping it signs the user out everywhere (PITFALLS: sign-in).
    session_version: Mapped[int] = mapped_column(default=1)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    department: Mapped[Department | None] = relationship()
    county: Mapped[County | None] = relationship()
    specialty_rows: Mapped[list[UserSpecialty]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def is_active(self) -> bool:  # Flask-Login: deactivated users cannot sign in
        return self.active

    # The Flask-Login id of the browser session this object was signed in or loaded for (not a column):
    # ``"<user id>:<session_version>:<secret>"`` (crm/auth/domain.py ``start_session`` / ``load_session_user``).
    session_key = None  # str | None (a plain attribute: declarative would map an annotated one)
    session_row_id = None  # int | None: that session's UserSession row
    # dict[str, Any]: what other capabilities read with the session (crm.auth.domain.session_figure); replaced,
    # never changed in place
    session_figures = {}  # noqa: RUF012

    def get_id(self) -> str:
        # Without a server-side session (``start_session``) the id carries no secret, and the loader refuses it.
        return self.session_key or f"{self.id}:{self.session_version}:"

    @property
    def specialties(self) -> list[Specialty]:
        return sorted((row.specialty for row in self.specialty_rows), key=list(Specialty).index)

    @property
    def is_admin(self) -> bool:  # read by the access rules (crm/*/access.py), which may do everything for admins
        return self.role is Role.ADMIN

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles


class UserSpecialty(db.Model):
    __tablename__ = "user_specialties"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    specialty: Mapped[Specialty] = mapped_column(enum_column(Specialty, "specialty"), primary_key=True)

    user: Mapped[User] = relationship(back_populates="specialty_rows")


class ApiToken(db.Model):
    """A bearer token. Only its SHA-256 is stored; it expires and can be revoked."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()


class UserSession(db.Model):
    """One signed-in browser. Only the SHA-256 of its secret is stored; the cookie carries the secret.

    Signing out ends the row, so a copied cookie stops working; "sign out everywhere" ends every row of the user.
    ``remember`` sessions outlive the browser and expire server-side after ``SESSION_MAX_DAYS``.
    """

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    remember: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    address: Mapped[str] = mapped_column(sa.String(64), default="")
    user_agent: Mapped[str] = mapped_column(sa.String(200), default="")

    user: Mapped[User] = relationship()
