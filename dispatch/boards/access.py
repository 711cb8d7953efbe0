"""What the pages may offer a signed-in user: their actions and boards, from the rules."""

from __future__ import annotations

from sqlmodel import Session

from dispatch.boards.snapshot import own_boards
from dispatch.users.models import User
from dispatch.users.policy import allowed_actions
from dispatch.users.scopes import actor_for
from dispatch.users.service import UserPublic


def signed_in_user(session: Session, user: User) -> UserPublic:
    """Return the user as the API shows them, with the actions and boards they may use."""
    actor = actor_for(session, user)
    return UserPublic.of(user, session).model_copy(
        update={
            "actions": [action.value for action in allowed_actions(actor)],
            "boards": [kind.value for kind in own_boards(actor)],
        }
    )
