"""``OdooSimulator``: a stand-in Odoo 17 server for tests, benchmarks and the demo."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import tempfile
import threading
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from . import demo as demo_data
from .controls import Transaction
from .cpu import DEFAULT_CONTENTION, DEFAULT_LOGIN_COST, HashCpu
from .database import Storage
from .models import Registry
from .protocol_json2 import ADMIN_API_KEY, ApiKeys
from .services import Services, parse_stamp

if TYPE_CHECKING:
    from .server import SimulatorServer

ADMIN_UID = demo_data.ADMIN_UID


class OdooSimulator:
    """An Odoo 17 RPC server backed by SQLite.

    ``path=None`` keeps the database in a temporary file removed by :meth:`stop`; an
    existing ``path`` is reopened as it is (base and demo data are loaded only into an
    empty database). Admin logs in as ``admin``/``admin`` and is uid 2, as on a real
    server with demo data.

    ``login_cost`` is what one password check costs in seconds (a login, or the first
    ``execute_kw`` of a uid and password): about 0.5 s by default, as on a real Odoo 17;
    overlapping checks share one CPU (``contention``, see :class:`HashCpu`). Tests that need
    speed pass ``login_cost=0``. ``latency`` delays every RPC request (seconds).
    """

    def __init__(self, database: str = "odootest", path: str | None = None,
                 auditlog: bool = False, demo: bool = True,
                 login_cost: float = DEFAULT_LOGIN_COST, latency: float = 0.0,
                 contention: float = DEFAULT_CONTENTION) -> None:
        self.database = database
        self.auditlog = auditlog
        self._tmpdir = None
        if path is None:
            self._tmpdir = tempfile.mkdtemp(prefix="odoo-sim-")
            path = os.path.join(self._tmpdir, f"{database}.sqlite3")
        self.path = path
        self.registry = Registry(auditlog=auditlog)
        self.storage = Storage(path, self.registry)
        #: Optional clock override: a callable returning a datetime (naive = UTC).
        self.now = None
        #: Object-service calls received over RPC, keyed by (model, method).
        self.calls: Counter = Counter()
        self._calls_lock = threading.Lock()
        #: Logins received over RPC (login, authenticate, web session), keyed by login.
        self.logins: Counter = Counter()
        #: The refused ones among them, keyed by login.
        self.refused_logins: Counter = Counter()
        #: The CPU that password checks share (see :mod:`connector.simulator.cpu`).
        self.hash_cpu = HashCpu(contention)
        self._login_cost = 0.0
        self.set_login_cost(login_cost)
        self._down = False
        self._latency = 0.0
        self.set_latency(latency)
        self._txn_names = itertools.count(1)
        self._server: SimulatorServer | None = None
        self._thread: threading.Thread | None = None
        self.services = Services(self)
        #: API keys of the Odoo 19 JSON-2 routes (``/json/2/<model>/<method>``).
        self.api_keys = ApiKeys(ADMIN_UID)
        #: False makes ``/json/2/...`` and ``/web/version`` answer 404, as Odoo 17 does.
        self.json2_enabled = True
        with self.storage.lock:
            empty = self.storage.conn.execute("SELECT count(*) FROM sim_auth").fetchone()[0] == 0
        if empty:
            try:
                demo_data.load(self.storage, self.clock(), demo=demo)
            except BaseException:
                self.stop()  # do not leave a temporary database behind
                raise

    def __repr__(self) -> str:
        where = self.url if self._server else "not started"
        return f"<OdooSimulator {self.database} {where}>"

    # -- clock ------------------------------------------------------------------------

    def clock(self) -> datetime:
        """The current time as the simulated server sees it (naive UTC, microseconds)."""
        if self.now is None:
            return datetime.now(UTC).replace(tzinfo=None)
        value = self.now()
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    # -- server -----------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> OdooSimulator:
        """Serve in a background thread; ``port=0`` picks a free port."""
        from .server import make_server

        if self._server is not None:
            raise RuntimeError("simulator already started")
        server = self._server = make_server(self, host, port)
        thread = self._thread = threading.Thread(target=server.serve_forever,
                                                 name=f"odoo-sim-{self.port}", daemon=True)
        thread.start()
        return self

    def serve_forever(self, host: str = "127.0.0.1", port: int = 8069) -> None:
        """Serve in the calling thread until interrupted."""
        from .server import make_server

        server = self._server = make_server(self, host, port)
        try:
            server.serve_forever()
        finally:
            server.server_close()

    def stop(self) -> None:
        """Stop serving, close the database, remove it when it was temporary."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
        self._server = None
        self._thread = None
        self.storage.close()
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> OdooSimulator:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def host(self) -> str:
        """The address the server listens on."""
        return str(self._server.server_address[0]) if self._server else ""

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return self._server.server_address[1] if self._server else 0

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self.host}:{self.port}" if self._server else ""

    # -- test controls ----------------------------------------------------------------

    def _count_call(self, model: str, method: str) -> None:
        with self._calls_lock:
            self.calls[(model, method)] += 1

    def count_login(self, login: str, refused: bool = False) -> None:
        """Count one login attempt of ``login`` (or, with ``refused``, its refusal)."""
        with self._calls_lock:
            (self.refused_logins if refused else self.logins)[login] += 1

    @property
    def login_count(self) -> int:
        """How many logins were attempted over RPC, all users together."""
        with self._calls_lock:
            return sum(self.logins.values())

    def reset_calls(self) -> None:
        """Forget the counted calls and logins."""
        with self._calls_lock:
            self.calls.clear()
            self.logins.clear()
            self.refused_logins.clear()

    def set_login_cost(self, seconds: float) -> None:
        """What one password check costs from now on (0: free, for fast tests)."""
        seconds = float(seconds)
        if not seconds >= 0:
            raise ValueError("the login cost is a number of seconds, 0 or more")
        self._login_cost = seconds

    @property
    def login_cost(self) -> float:
        """Seconds of one uncontended password check."""
        return self._login_cost

    def set_password(self, login: str, password: str) -> None:
        """Change the password of user ``login`` (calls with the old one are refused)."""
        [uid] = self.execute("res.users", "search", [("login", "=", login)]) or [None]
        if uid is None:
            raise ValueError(f"no user with login {login!r}")
        self.execute("res.users", "write", [uid], {"password": password})

    def set_down(self, down: bool = True) -> None:
        """Make RPC routes drop every connection (clients see a connection error)."""
        self._down = bool(down)

    @property
    def is_down(self) -> bool:
        """True while RPC routes drop connections."""
        return self._down

    def set_latency(self, seconds: float) -> None:
        """Delay every RPC request by ``seconds`` before handling it."""
        seconds = float(seconds)
        if not seconds >= 0:
            raise ValueError("the latency is a number of seconds, 0 or more")
        self._latency = seconds

    @property
    def latency(self) -> float:
        """The current artificial delay in seconds."""
        return self._latency

    def begin_transaction(self, name: str | None = None) -> Transaction:
        """Open a held transaction; its writes are stamped now and published at commit."""
        name = name or f"txn{next(self._txn_names)}"
        start = self.clock()
        self.storage.register_txn(name, start.strftime("%Y-%m-%d %H:%M:%S.%f"))
        return Transaction(self, name, start)

    def transaction(self, name: str) -> Transaction:
        """The open held transaction called ``name``."""
        start = self.storage.txn_start(name)
        if start is None:
            raise ValueError(f"no open transaction named {name!r}")
        return Transaction(self, name, parse_stamp(start))

    def add_user(self, login: str, password: str, models=None, read_models=None,
                 name: str | None = None, groups=None) -> int:
        """Create a user; with ``models`` it may only use those models (others raise
        AccessError), plus read-only access to ``read_models``. ``groups`` is accepted as
        an alias of ``models``. Returns the uid."""
        if models is None and groups is not None:
            models = groups
        uid = self.execute("res.users", "create", {"name": name or login, "login": login})
        restricted = models is not None or read_models is not None
        with self.storage.atomic():
            self.storage.conn.execute(
                "INSERT OR REPLACE INTO sim_auth (uid, password, models, read_models) "
                "VALUES (?, ?, ?, ?)",
                (uid, password, json.dumps(sorted(models or [])) if restricted else None,
                 json.dumps(sorted(read_models or [])) if restricted else None))
        return uid

    @property
    def admin_api_key(self) -> str:
        """The admin's JSON-2 API key (always valid, the same for every simulator)."""
        return ADMIN_API_KEY

    def add_api_key(self, uid: int) -> str:
        """A new JSON-2 API key (``Authorization: bearer <key>``) of user ``uid``."""
        return self.api_keys.add(uid)

    def revoke_api_key(self, key: str) -> bool:
        """Make ``key`` invalid; False when it was not a key."""
        return self.api_keys.revoke(key)

    def subscribe_auditlog(self, model: str = "res.partner", log_type: str = "full",
                           capture_record: bool = True) -> int:
        """Create and subscribe an auditlog rule logging create/write/unlink of ``model``
        (needs ``auditlog=True``); returns the rule id."""
        [model_id] = self.execute("ir.model", "search", [("model", "=", model)])
        values = {"name": model, "model_id": model_id, "log_type": log_type,
                  "log_create": True, "log_write": True, "log_unlink": True,
                  "capture_record": capture_record}
        # auditlog allows one rule per model: reuse it (e.g. when a database is reopened).
        existing = self.execute("auditlog.rule", "search", [("model_id", "=", model_id)])
        if existing:
            rule_id = existing[0]
            self.execute("auditlog.rule", "write", [rule_id], values)
        else:
            rule_id = self.execute("auditlog.rule", "create", values)
        self.execute("auditlog.rule", "subscribe", [rule_id])
        return rule_id

    # -- Python API -------------------------------------------------------------------

    def execute(self, model: str, method: str, *args, **kwargs):
        """Call a model method as admin, like RPC but without being counted."""
        return self.services.call(ADMIN_UID, model, method, list(args), dict(kwargs),
                                  count=False)
