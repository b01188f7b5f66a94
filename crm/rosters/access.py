"""Access rules of the lists, registered with :mod:`crm.core.access`.

Editions: everyone reads published (and superseded) lists, except a department liaison (部门联络员: their work
is the records routed to their department, not the lists); drafts and editions in review are for coordinators
and leaders; coordinators edit drafts (a county coordinator proposes entries of their county); only a city-wide
coordinator opens, submits, returns and publishes. Admins do everything.

Entries: seen with their edition; changed by who may edit both the edition and the entry's enterprise.

Import reports (:class:`RosterImport`, issue 10 item 5): read only by their author, city-wide coordinators and
admins. A county coordinator who did not upload it gets the answer of a missing report (404): its rows may name
enterprises of other counties, and its existence is nobody else's business. Nothing changes a report through
the access rules; the same rule answers every action.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crm.auth.models import Role
from crm.core import access
from crm.core.access import Action, Condition
from crm.enterprises.models import Enterprise
from crm.rosters.models import FROZEN, RosterEdition, RosterEntry, RosterImport

DRAFT_READERS = (Role.COORDINATOR, Role.LEADER)


class EditionRule:
    def can(self, user: Any, action: Action, edition: RosterEdition) -> bool:
        if user.is_admin:
            return True
        if user.role is Role.LIAISON:
            return False
        if action is Action.VIEW:
            return edition.status in FROZEN or user.role in DRAFT_READERS
        if user.role is not Role.COORDINATOR:
            return False
        if action is Action.PUBLISH:
            return user.county_id is None
        return action in (Action.EDIT, Action.CREATE)

    def where(self, user: Any, action: Action) -> Condition:
        if user.is_admin:
            return None
        if user.role is Role.LIAISON:
            return sa.false()
        if action is Action.VIEW:
            return None if user.role in DRAFT_READERS else RosterEdition.status.in_(FROZEN)
        if user.role is not Role.COORDINATOR:
            return sa.false()
        if action is Action.PUBLISH:
            return None if user.county_id is None else sa.false()
        return None if action in (Action.EDIT, Action.CREATE) else sa.false()


class EntryRule:
    def can(self, user: Any, action: Action, entry: RosterEntry) -> bool:
        if not access.can(user, action, entry.edition):
            return False
        return action is Action.VIEW or access.can(user, action, entry.enterprise)

    def where(self, user: Any, action: Action) -> Condition:
        edition = access.within(user, RosterEntry.edition_id, RosterEdition, action)
        if action is Action.VIEW:
            return edition
        return access.all_of(edition, access.within(user, RosterEntry.enterprise_id, Enterprise, action))


class ImportRule:
    @staticmethod
    def _reads_all(user: Any) -> bool:
        return user.is_admin or (user.role is Role.COORDINATOR and user.county_id is None)

    def can(self, user: Any, action: Action, record: RosterImport) -> bool:
        return self._reads_all(user) or (record.user_id is not None and record.user_id == user.id)

    def where(self, user: Any, action: Action) -> Condition:
        return None if self._reads_all(user) else RosterImport.user_id == user.id


access.register(RosterEdition, EditionRule())
access.register(RosterEntry, EntryRule())
access.register(RosterImport, ImportRule())
