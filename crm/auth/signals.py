"""What the user accounts tell the capabilities built on them (blinker signals; auth imports none of its hearers).

A receiver runs inside the sender's transaction: what it writes commits or rolls back with the change that
sent the signal, and it must not commit. Receivers are connected when the app factory imports each
capability's ``subscribers`` module.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

user_deactivated = _signals.signal("user-deactivated", doc="""\
A user account has just been deactivated (sessions and API tokens already revoked), not committed.

Sender: the ``User``. Keyword: ``actor`` (the admin, ``None`` for the system).
Heard by: ``crm.service.subscribers`` (the user's active assignments end, coordinators are told).
""")

user_updated = _signals.signal("user-updated", doc="""\
An admin has just changed a user's profile (role, specialties, county scope, name, department, phone), flushed,
not committed; sent only when something changed.

Sender: the ``User`` (with its new values). Keywords: ``actor``; ``changes`` (``{field: [old, new]}``, as audited).
Heard by: ``crm.service.subscribers`` (the assignments the user no longer qualifies for end).
""")
