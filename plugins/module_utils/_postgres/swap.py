# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The swap at the end of a logical restore: the verified database takes the target's name.

The old target, if any, is renamed to <target>_before_<time> in the same
transaction, so the target's name never stays empty. A failed swap keeps the
verified new database and says where each copy of the data is (SwapFailed),
asking PostgreSQL on a new connection what the transaction left. A failure
before the swap drops the half-restored database.
"""

from __future__ import annotations

import time
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._errors import DrError, SwapFailed
from ansible_collections.resilience.dr.plugins.module_utils._postgres.connection import (
    ConnectionParams,
    connected,
    identifier,
    psycopg2,
    query,
    query_one,
    sql,
)


def _terminate(admin: t.Any, database: str) -> None:
    query(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
          (database,))


def _allow_connections(database: str, allowed: bool) -> t.Any:
    return sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}").format(identifier(database), sql.Literal(allowed))


def _rollback(admin: t.Any) -> None:
    """End a failed transaction; on a lost connection the server has rolled it back already."""
    if admin.closed:
        return
    try:
        admin.rollback()
    except psycopg2.Error:
        pass  # the connection broke: the server rolls the transaction back; the first error is the one reported


def _renames_in_one_transaction(admin: t.Any, renames: list[tuple[str, str]], finish: list[t.Any],
                                attempts: int = 20) -> None:
    """Every rename (then finish) in one transaction: all of them happen, or none.

    PostgreSQL runs ALTER DATABASE ... RENAME inside a transaction block (unlike
    CREATE or DROP DATABASE), so a failure or a lost connection between the
    renames rolls the first one back. Retried while sessions just terminated
    are still leaving (ObjectInUse).
    """
    for attempt in range(attempts):
        for old, _new in renames:
            _terminate(admin, old)
        admin.autocommit = False
        try:
            for old, new in renames:
                query(admin, sql.SQL("ALTER DATABASE {} RENAME TO {}").format(identifier(old), identifier(new)))
            for statement in finish:
                query(admin, statement)
            admin.commit()
            return
        except psycopg2.errors.ObjectInUse:
            _rollback(admin)
            if attempt == attempts - 1:
                raise
        except BaseException:
            _rollback(admin)
            raise
        finally:
            if not admin.closed:
                admin.autocommit = True
        time.sleep(0.25)


def swap(admin: t.Any, params: ConnectionParams, maintenance_db: str, target: str, temporary: str,
         previous: str | None, before: dict[str, t.Any], label: str) -> None:
    """Give the restored database the target's name, moving the old target to previous, in one transaction."""
    allowed = bool((before.get("properties") or {}).get("allow_connections", True))
    try:
        if previous is None:
            _renames_in_one_transaction(admin, [(temporary, target)], [])
            return
        # Committed on its own: keeps new sessions out of the old target while the renames wait for the old ones.
        query(admin, _allow_connections(target, False))
        _renames_in_one_transaction(admin, [(target, previous), (temporary, target)],
                                    [_allow_connections(previous, allowed)])
    except psycopg2.Error as error:
        failure = _swap_failure(error, params, maintenance_db, target, temporary, previous, allowed, label)
        if failure is not None:
            raise failure from None


def _swap_failure(error: Exception, params: ConnectionParams, maintenance_db: str, target: str, temporary: str,
                  previous: str | None, allowed: bool, label: str) -> SwapFailed | None:
    """What a failed swap left, asked on a new connection; None when it committed after all (lost reply)."""
    detail = (str(error).strip().splitlines() or [type(error).__name__])[0]
    what = f"giving the restored database {temporary} the name {target} on {params.where} failed ({detail})"
    names: set[str] | None = None
    allowed_again = True
    try:
        with connected(params, maintenance_db) as check:
            names = {row[0] for row in query(check, "SELECT datname FROM pg_database WHERE datname = ANY(%s)",
                                             ([target, temporary] + ([previous] if previous else []),))}
            if temporary not in names:
                return None  # the transaction committed; only its reply was lost
            if previous is not None and target in names:
                query(check, _allow_connections(target, allowed))
    except DrError:
        names = None
    except psycopg2.Error:
        if names is not None:
            allowed_again = False  # the names were read; letting connections into the target again failed
    if names is None:
        listed = ", ".join(f"'{name}'" for name in (target, temporary, previous) if name)
        if previous is not None:
            committed = f"{target} holds the restored data of {label} and {previous} the data {target} held before"
            rolled_back = (f"{target} still holds its data (connections to it may be switched off: ALTER DATABASE "
                           f"{target} WITH ALLOW_CONNECTIONS {str(allowed).lower()}) and {temporary} the restored data")
        else:
            committed = f"{target} holds the restored data of {label}"
            rolled_back = f"{temporary} holds the restored data and {target} does not exist"
        return SwapFailed(
            f"{what}, and PostgreSQL cannot be reached to see the outcome. The swap is one transaction, so either it "
            f"committed ({committed}) or it was rolled back ({rolled_back}). When the server answers, see which "
            f"with: SELECT datname FROM pg_database WHERE datname IN ({listed})",
            database=target, restored_db=temporary, previous_db=previous,
        )
    if previous is not None:
        kept = f"{target} still holds the data it had before"
        if not allowed_again:
            kept += (f" but does not accept connections (ALTER DATABASE {target} WITH ALLOW_CONNECTIONS "
                     f"{str(allowed).lower()} lets them in again)")
        by_hand = (f"BEGIN; ALTER DATABASE {target} RENAME TO {previous}; ALTER DATABASE {temporary} RENAME TO "
                   f"{target}; COMMIT;")
    else:
        kept = f"{target} does not exist"
        by_hand = f"ALTER DATABASE {temporary} RENAME TO {target};"
    return SwapFailed(
        f"{what}. The swap is one transaction and was rolled back: {kept}, and the restored, verified data of "
        f"{label} is in the database {temporary}. Run the restore again (then drop {temporary}), or finish this "
        f"one by hand: {by_hand}",
        database=target, restored_db=temporary, previous_db=previous,
    )


def drop_after_failure(admin: t.Any, database: str) -> str | None:
    """Drop the half-restored database; say so if that failed too (the first error stays the one reported)."""
    try:
        drop(admin, database)
    except DrError as error:
        return error.message
    except psycopg2.Error as error:
        return f"could not drop the half-restored database {database} ({str(error).strip()}); drop it by hand"
    return None


def drop(admin: t.Any, database: str) -> None:
    """Drop a database this restore made, even with sessions left in it."""
    if query_one(admin, "SELECT 1 FROM pg_database WHERE datname = %s", (database,)) is None:
        return
    try:
        query(admin, sql.SQL("DROP DATABASE {} WITH (FORCE)").format(identifier(database)))
    except psycopg2.Error as error:
        raise DrError(f"could not drop the database {database}: {str(error).strip()}; drop it by hand") from None
