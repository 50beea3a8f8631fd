"""The demo domain: models, credit transfers, the sample data set and loading strategies."""

from .credits import InsufficientFunds as InsufficientFunds
from .credits import transfer_credits as transfer_credits
from .loading import compare_loading as compare_loading
from .loading import loading_summary as loading_summary
from .models import Comment as Comment
from .models import Post as Post
from .models import Team as Team
from .models import User as User
from .models import UserCreate as UserCreate
from .models import UserRead as UserRead
from .sample import load_sample as load_sample
from .sample import write_sample_csv as write_sample_csv

__all__ = [
    "Comment",
    "InsufficientFunds",
    "Post",
    "Team",
    "User",
    "UserCreate",
    "UserRead",
    "compare_loading",
    "load_sample",
    "loading_summary",
    "transfer_credits",
    "write_sample_csv",
]
