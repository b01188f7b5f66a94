"""What the lists tell the capabilities built on them (blinker signals; the rosters import none of their hearers).

A receiver runs inside the sender's transaction: what it writes commits or rolls back with the change that
sent the signal, and it must not commit. Receivers are connected when the app factory imports each
capability's ``subscribers`` module.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

edition_published = _signals.signal("edition-published", doc="""\
An edition has just been published (and the one it supersedes marked superseded), flushed, not committed.

Sender: the published ``RosterEdition``. Keyword: ``actor`` (the user who published, ``None`` for the system).
Heard by: ``crm.service.subscribers`` (the assignments of enterprises now on neither list end).
""")
