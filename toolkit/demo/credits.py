"""Moving credits between users: an atomic transfer that never creates or loses credits."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..errors import NotFoundError, ToolkitError, ValidationError
from ..transactions import run_transaction
from .models import User

if TYPE_CHECKING:
    from ..database import Database

__all__ = ["InsufficientFunds", "transfer_credits"]

_CENT = Decimal("0.01")


class InsufficientFunds(ToolkitError):
    """A transfer would take a balance below zero; nothing was moved.

    Attributes
    ----------
    user_id : int
    balance, amount : Decimal
    """

    def __init__(self, user_id: int, balance: Decimal, amount: Decimal) -> None:
        self.user_id = user_id
        self.balance = balance
        self.amount = amount
        super().__init__(
            f"User {user_id} has {balance} credits and cannot send {amount}; nothing was "
            "moved. Transfer at most the balance, or top the account up first."
        )


def _amount(value: Decimal | int | str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValidationError("transfer", "amount", "not a number", value) from exc
    if not amount.is_finite() or amount <= 0:
        raise ValidationError("transfer", "amount", "must be a positive number", value)
    if amount != amount.quantize(_CENT):
        raise ValidationError("transfer", "amount", "has more than 2 decimal places", value)
    return amount.quantize(_CENT)


async def _move(
    session: AsyncSession, from_id: int, to_id: int, amount: Decimal
) -> tuple[Decimal, Decimal]:
    # Lock both rows in id order, so two opposite transfers cannot deadlock; SQLite
    # ignores FOR UPDATE and serialises writers with BEGIN IMMEDIATE instead.
    stmt = (
        select(User)
        .where(col(User.id).in_([from_id, to_id]))
        .order_by(col(User.id))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    users = {u.id: u for u in (await session.exec(stmt)).all()}
    for uid in (from_id, to_id):
        if uid not in users:
            raise NotFoundError(f"No user with id {uid}; nothing was moved.")
    sender, receiver = users[from_id], users[to_id]
    if sender.credits < amount:
        raise InsufficientFunds(from_id, sender.credits, amount)
    sender.credits = sender.credits - amount
    receiver.credits = receiver.credits + amount
    return sender.credits, receiver.credits


async def transfer_credits(
    db: Database, from_id: int, to_id: int, amount: Decimal | int | str
) -> tuple[Decimal, Decimal]:
    """Move ``amount`` credits from one user to another, atomically.

    Both balances change in one transaction or neither does; the rows are locked, so
    any number of concurrent transfers conserve the total, and a deadlock or
    serialization failure is retried (:func:`toolkit.run_transaction`).

    Parameters
    ----------
    db : Database
    from_id, to_id : int
        User ids; they must differ.
    amount : Decimal, int or str
        Positive, at most 2 decimal places.

    Returns
    -------
    (sender_balance, receiver_balance) after the transfer.

    Raises
    ------
    InsufficientFunds
        The sender has less than ``amount``; nothing was moved.
    NotFoundError
        Either user does not exist.
    ValidationError
        A bad amount, or ``from_id == to_id``.

    Examples
    --------
    >>> await demo.transfer_credits(db, 1, 2, "12.50")
    (Decimal('87.50'), Decimal('112.50'))
    """
    value = _amount(amount)
    if from_id == to_id:
        raise ValidationError("transfer", "to_id", "must differ from from_id", to_id)
    return await run_transaction(db, _move, from_id, to_id, value)
