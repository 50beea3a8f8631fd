"""The demo domain: models, credit transfers, and (later) sample data."""

from .credits import InsufficientFunds as InsufficientFunds
from .credits import transfer_credits as transfer_credits
from .models import Comment as Comment
from .models import Post as Post
from .models import Team as Team
from .models import User as User
from .models import UserCreate as UserCreate
from .models import UserRead as UserRead

__all__ = [
    "Comment",
    "InsufficientFunds",
    "Post",
    "Team",
    "User",
    "UserCreate",
    "UserRead",
    "transfer_credits",
]
