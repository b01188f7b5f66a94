"""Access rule of the inbox, registered with :mod:`crm.core.access`: each user reads and marks only their own
notifications (an admin too: another user's inbox is not theirs to read)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crm.core import access
from crm.core.access import Action, Condition
from crm.notifications.models import Notification


class OwnInbox:
    def can(self, user: Any, action: Action, notification: Notification) -> bool:
        return action in (Action.VIEW, Action.EDIT) and notification.user_id == user.id

    def where(self, user: Any, action: Action) -> Condition:
        return Notification.user_id == user.id if action in (Action.VIEW, Action.EDIT) else sa.false()


access.register(Notification, OwnInbox())
