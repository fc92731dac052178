"""The RPC services of Odoo 17: ``common``, ``db`` and ``object``, and access rights.

Both protocols (XML-RPC and JSON-RPC) end up in :meth:`Services.dispatch`; the object
service authenticates every call (uid + password), counts it, and runs it as one
transaction through :meth:`Services.call`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from .errors import AccessDenied, AccessError, DatabaseMissing, UserError
from .orm import BaseModel, Env

VERSION_INFO = {
    "server_version": "17.0",
    "server_version_info": [17, 0, 0, "final", 0, ""],
    "server_serie": "17.0",
    "protocol_version": 1,
}
TXN_CONTEXT_KEY = "sim_transaction"

_OPERATIONS = {"create": "create", "write": "write", "unlink": "unlink",
               "message_post": "read", "subscribe": "write", "unsubscribe": "write",
               "generate_access_token": "write"}
_VERBS = {"read": "access", "write": "modify", "create": "create", "unlink": "delete"}


def parse_stamp(text: str) -> datetime:
    """A stored datetime string back to a datetime."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f")


class Services:
    """Dispatches service calls to the simulator's storage."""

    def __init__(self, sim) -> None:
        self.sim = sim
        self.storage = sim.storage
        # (uid, password) pairs already checked: Odoo's ormcache of res.users.check.
        self._checked: set[tuple[int, Any]] = set()
        self._checked_lock = threading.Lock()

    def forget_checks(self) -> None:
        """Empty the credential cache, as an Odoo restart (or a cache clear) does."""
        with self._checked_lock:
            self._checked.clear()

    # -- entry point ------------------------------------------------------------------

    def dispatch(self, service: str, method: str, args: list):
        """Run ``service.method(*args)`` as Odoo's dispatch_rpc does."""
        table: dict[str, Callable[..., Any]]
        if service == "common":
            table = {"version": self.version, "login": self.login,
                     "authenticate": self.authenticate, "about": self.about}
        elif service == "db":
            table = {"list": self.db_list, "server_version": self.server_version,
                     "db_exist": self.db_exist, "list_lang": self.list_lang}
        elif service == "object":
            table = {"execute_kw": self.execute_kw, "execute": self.execute}
        else:
            raise NameError(f"Unknown service {service!r}")
        handler = table.get(method)
        if handler is None:
            raise NameError(f"Method not available {method}")
        return handler(*args)

    # -- common -----------------------------------------------------------------------

    def version(self):
        """``common.version()``."""
        return dict(VERSION_INFO)

    def about(self, extended=False):
        """``common.about()``."""
        info = "See http://openerp.com"
        return [info, VERSION_INFO["server_version"]] if extended else info

    def _check_db(self, db) -> None:
        if db != self.sim.database:
            raise DatabaseMissing(str(db))

    def login(self, db, login, password):
        """``common.login()``: the uid, or False for bad credentials (never a fault)."""
        return self.authenticate(db, login, password, {})

    def authenticate(self, db, login, password, user_agent_env=None):
        """``common.authenticate()``: the uid, or False for bad credentials.

        Costs :attr:`OdooSimulator.login_cost` when the login exists (Odoo hashes the
        password it is given to compare it), nothing when it does not.
        """
        self._check_db(db)
        with self.storage.lock:
            rows = self.storage.conn.execute(
                "SELECT u.id, a.password FROM res_users AS u JOIN sim_auth AS a ON a.uid = u.id "
                "WHERE u.login = ? AND u.active = 1", (login,)).fetchall()
        self.sim.count_login(str(login))
        if rows:
            self.sim.hash_cpu.spend(self.sim.login_cost)
        for uid, stored in rows:
            if stored is not None and stored == password:
                return uid
        self.sim.count_login(str(login), refused=True)
        return False

    def check_credentials(self, uid, password) -> int:
        """The uid when ``password`` is the user's, else AccessDenied (fault 3).

        As Odoo's ``res.users.check`` (cached per uid and password): the first check of a
        pair costs a password hash, later ones nothing until the password changes; a wrong
        password is hashed, and refused, every time.
        """
        try:
            uid = int(uid)
        except (TypeError, ValueError):
            raise AccessDenied() from None
        if not isinstance(password, str):
            raise AccessDenied()
        with self.storage.lock:
            row = self.storage.conn.execute(
                "SELECT a.password FROM sim_auth AS a JOIN res_users AS u ON u.id = a.uid "
                "WHERE a.uid = ? AND u.active = 1", (uid,)).fetchone()
        stored = row[0] if row is not None else None
        key = (uid, password)
        with self._checked_lock:
            known = key in self._checked
            if known and stored != password:
                self._checked.discard(key)  # the password changed: Odoo cleared its cache
                known = False
        if known:
            return uid
        if stored is not None:
            self.sim.hash_cpu.spend(self.sim.login_cost)
        if stored is None or stored != password:
            raise AccessDenied()
        with self._checked_lock:
            self._checked.add(key)
        return uid

    # -- db ---------------------------------------------------------------------------

    def db_list(self, *args):
        """``db.list()``."""
        return [self.sim.database]

    def db_exist(self, db_name):
        """``db.db_exist()``."""
        return db_name == self.sim.database

    def server_version(self):
        """``db.server_version()``."""
        return VERSION_INFO["server_version"]

    def list_lang(self):
        """``db.list_lang()``."""
        return [["en_US", "English (US)"]]

    # -- object -----------------------------------------------------------------------

    def execute_kw(self, db, uid, password, model, method, args=None, kwargs=None):
        """``object.execute_kw()``."""
        self._check_db(db)
        uid = self.check_credentials(uid, password)
        return self.call(uid, model, method, list(args or []), dict(kwargs or {}))

    def execute(self, db, uid, password, model, method, *args):
        """``object.execute()``: positional arguments only."""
        self._check_db(db)
        uid = self.check_credentials(uid, password)
        return self.call(uid, model, method, list(args), {})

    def call(self, uid: int, model: str, method: str, args: list, kwargs: dict,
             count: bool = True):
        """Run one model method as one transaction (Odoo's call_kw)."""
        if count:
            self.sim._count_call(model, method)
        context = kwargs.pop("context", None) or {}
        if not isinstance(context, dict):
            context = {}
        txn = context.get(TXN_CONTEXT_KEY)
        if txn:
            start = self.storage.txn_start(str(txn))
            if start is None:
                raise UserError(f"No open simulator transaction {txn!r}")
            now = parse_stamp(start)
        else:
            # Taken before waiting for the lock: a call that waits commits after calls
            # that started later, exactly the late-commit case a poller must survive.
            now = self.sim.clock()
        with self.storage.atomic():
            view = self.storage.view(str(txn) if txn else None)
            env = Env(self.storage, view, uid, context, now, auditlog=self.sim.auditlog)
            records = env[model]
            if method.startswith("_"):
                raise AccessError(
                    f"Private methods (such as {method}) cannot be called remotely.")
            function = records.rpc_method(method)
            if function is None:
                raise AttributeError(
                    f"The method '{method}' does not exist on the model '{model}'")
            answer = self.check_access(uid, records, method, args, kwargs)
            if method == "check_access_rights":
                return answer
            return function(*args, **kwargs)

    # -- access rights ----------------------------------------------------------------

    def allowed(self, uid: int, model: str, operation: str) -> bool:
        """Whether ``uid`` may ``operation`` (read/write/create/unlink) on ``model``."""
        row = self.storage.conn.execute(
            "SELECT models, read_models FROM sim_auth WHERE uid = ?", (uid,)).fetchone()
        if row is None or row[0] is None:
            return True  # an unrestricted user
        if model in json.loads(row[0]):
            return True
        return operation == "read" and model in json.loads(row[1] or "[]")

    def access_error(self, records: BaseModel, operation: str) -> AccessError:
        """The AccessError Odoo 17 raises for a model the user has no rights on."""
        return AccessError(
            f"You are not allowed to {_VERBS.get(operation, operation)} "
            f"'{records.model.description}' ({records.model.name}) records.\n\n"
            "This operation is allowed for the following groups:\n"
            "\t- Role / Administrator\n\n"
            "Contact your administrator to request access if necessary.")

    def check_access(self, uid: int, records: BaseModel, method: str, args, kwargs):
        """Raise AccessError unless ``uid`` may call ``method``; answers check_access_rights."""
        if method in ("fields_get", "context_get"):
            return None
        if method == "check_access_rights":
            operation = args[0] if args else kwargs.get("operation", "read")
            raise_exception = args[1] if len(args) > 1 else kwargs.get("raise_exception", True)
            if self.allowed(uid, records.model.name, operation):
                return True
            if raise_exception:
                raise self.access_error(records, operation)
            return False
        operation = _OPERATIONS.get(method, "read")
        if not self.allowed(uid, records.model.name, operation):
            raise self.access_error(records, operation)
        return None
