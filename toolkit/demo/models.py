"""The demo domain: teams, users, posts and comments.

Tables are named in the plural (``users``, not ``user``): ``user`` is a reserved word in
PostgreSQL, where ``SELECT * FROM user`` quietly returns the session user instead.
"""

# No ``from __future__ import annotations`` here: SQLModel resolves relationship
# annotations at class creation.
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Optional

from pydantic import field_validator
from sqlalchemy import Column, DateTime
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlmodel import Field, Relationship, SQLModel

__all__ = ["Comment", "Post", "Team", "User", "UserCreate", "UserRead"]


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _now() -> datetime:
    return datetime.now(UTC)


class Team(AsyncAttrs, SQLModel, table=True):
    __tablename__ = "teams"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True, index=True)

    members: list["User"] = Relationship(back_populates="team")


class UserBase(SQLModel):
    username: str = Field(min_length=1, max_length=50, unique=True, index=True)
    email: str = Field(max_length=255)
    full_name: str | None = Field(default=None, max_length=200)
    is_active: bool = True
    credits: Decimal = Field(default=Decimal("0"), ge=0, max_digits=12, decimal_places=2)
    team_id: int | None = Field(default=None, foreign_key="teams.id", index=True)

    @field_validator("email")
    @classmethod
    def _email_shape(cls, value: str) -> str:
        # A light check, not RFC 5322: one "@" and a dot in the domain.
        if not _EMAIL.fullmatch(value):
            raise ValueError("is not an e-mail address like name@example.org")
        return value.lower()


class User(AsyncAttrs, UserBase, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    # Kept out of repr() and model_dump() (so out of API responses and to_frame of dumps).
    hashed_password: str | None = Field(default=None, max_length=255, repr=False, exclude=True)

    team: Optional["Team"] = Relationship(back_populates="members")
    posts: list["Post"] = Relationship(back_populates="author")
    comments: list["Comment"] = Relationship(back_populates="author")


class UserCreate(UserBase):
    """What a client sends to create a user (no id, no password hash)."""


class UserRead(UserBase):
    """What a client may see of a user: never ``hashed_password``."""

    id: int


class Post(AsyncAttrs, SQLModel, table=True):
    __tablename__ = "posts"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    body: str = ""
    author_id: int = Field(foreign_key="users.id", index=True)
    created_at: datetime = Field(
        default_factory=_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )

    author: Optional["User"] = Relationship(back_populates="posts")
    comments: list["Comment"] = Relationship(back_populates="post")


class Comment(AsyncAttrs, SQLModel, table=True):
    __tablename__ = "comments"

    id: int | None = Field(default=None, primary_key=True)
    body: str
    post_id: int = Field(foreign_key="posts.id", index=True)
    author_id: int = Field(foreign_key="users.id", index=True)
    created_at: datetime = Field(
        default_factory=_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )

    post: Optional["Post"] = Relationship(back_populates="comments")
    author: Optional["User"] = Relationship(back_populates="comments")
