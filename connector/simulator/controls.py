"""Test controls: held-open transactions, the HTTP control endpoint and its client.

The same controls exist three ways: the Python API of :class:`OdooSimulator`, ``POST
/sim/control`` on a running simulator (which keeps answering while the simulator is
"down"), and :class:`SimulatorControl`, a client for that endpoint usable from another
process (benchmarks, a simulator started with ``python -m connector.simulator``).
"""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from datetime import datetime

TXN_CONTEXT_KEY = "sim_transaction"


class Transaction:
    """A transaction held open across calls.

    RPC calls whose context holds ``{"sim_transaction": txn.name}`` (see :attr:`context`)
    and the Python helpers below run inside it: what they write is stamped with
    :attr:`start` and stays invisible to everybody else until :meth:`commit`.
    """

    def __init__(self, sim, name: str, start: datetime) -> None:
        self.sim = sim
        self.name = name
        self.start = start
        self.closed = False

    def __repr__(self) -> str:
        return f"<Transaction {self.name} started {self.start:%Y-%m-%d %H:%M:%S.%f}>"

    @property
    def context(self) -> dict:
        """The context to send with RPC calls that belong to this transaction."""
        return {TXN_CONTEXT_KEY: self.name}

    def execute(self, model: str, method: str, *args, **kwargs):
        """Call a model method as admin inside this transaction."""
        context = dict(kwargs.pop("context", None) or {})
        context[TXN_CONTEXT_KEY] = self.name
        return self.sim.execute(model, method, *args, context=context, **kwargs)

    def create(self, model: str, vals):
        """``create`` inside this transaction."""
        return self.execute(model, "create", vals)

    def write(self, model: str, ids, vals) -> bool:
        """``write`` inside this transaction."""
        return self.execute(model, "write", ids, vals)

    def unlink(self, model: str, ids) -> bool:
        """``unlink`` inside this transaction."""
        return self.execute(model, "unlink", ids)

    def commit(self) -> None:
        """Make everything the transaction wrote visible (dates stay at :attr:`start`)."""
        self.sim.storage.end_txn(self.name, commit=True)
        self.closed = True

    def rollback(self) -> None:
        """Discard everything the transaction wrote."""
        self.sim.storage.end_txn(self.name, commit=False)
        self.closed = True

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.closed:
            return
        if exc_type is None:
            self.commit()
        else:
            self.rollback()


def _stamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def _parse_clock(text: str) -> datetime:
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise ValueError(f"bad clock value {text!r}; use 'YYYY-MM-DD HH:MM:SS[.ffffff]'")


def handle_control(sim, payload: dict) -> dict:
    """Run one ``/sim/control`` action; returns the JSON answer."""
    action = payload.get("action")
    if action in ("down", "up"):
        sim.set_down(payload.get("value", True) if action == "down" else False)
    elif action == "latency":
        sim.set_latency(float(payload.get("seconds", 0)))
    elif action == "login_cost":
        sim.set_login_cost(float(payload.get("seconds", 0)))
    elif action == "logins":
        return {"ok": True, "logins": dict(sim.logins), "refused": dict(sim.refused_logins)}
    elif action == "set_password":
        sim.set_password(str(payload["login"]), str(payload["password"]))
    elif action == "calls":
        return {"ok": True, "calls": [[m, meth, n] for (m, meth), n in sorted(sim.calls.items())]}
    elif action == "reset_calls":
        sim.reset_calls()
    elif action == "begin":
        txn = sim.begin_transaction(payload.get("name"))
        return {"ok": True, "name": txn.name, "start": _stamp(txn.start)}
    elif action in ("commit", "rollback"):
        txn = sim.transaction(payload["name"])
        if action == "commit":
            txn.commit()
        else:
            txn.rollback()
    elif action == "add_user":
        uid = sim.add_user(payload["login"], payload["password"], name=payload.get("name"),
                           models=payload.get("models"),
                           read_models=payload.get("read_models"))
        return {"ok": True, "uid": uid}
    elif action == "add_api_key":
        return {"ok": True, "key": sim.add_api_key(int(payload["uid"]))}
    elif action == "revoke_api_key":
        return {"ok": True, "revoked": sim.revoke_api_key(str(payload["key"]))}
    elif action == "clock":
        value = payload.get("value")
        if value is None:
            sim.now = None
        else:
            fixed = _parse_clock(value)
            sim.now = lambda: fixed
    elif action == "execute":
        kwargs = dict(payload.get("kwargs") or {})
        context = dict(kwargs.pop("context", None) or {})
        if payload.get("txn"):
            context[TXN_CONTEXT_KEY] = payload["txn"]
        result = sim.execute(payload["model"], payload["method"], *payload.get("args", []),
                             context=context, **kwargs)
        return {"ok": True, "result": result}
    elif action == "status":
        return {"ok": True, "down": sim.is_down, "latency": sim.latency,
                "login_cost": sim.login_cost,
                "database": sim.database, "transactions": sim.storage.open_txns()}
    else:
        raise ValueError(f"unknown control action {action!r}")
    return {"ok": True}


class RemoteTransaction:
    """A held transaction of a simulator controlled over HTTP."""

    def __init__(self, control: SimulatorControl, name: str, start: str) -> None:
        self.control = control
        self.name = name
        self.start = _parse_clock(start)

    @property
    def context(self) -> dict:
        """The context to send with RPC calls that belong to this transaction."""
        return {TXN_CONTEXT_KEY: self.name}

    def commit(self) -> None:
        """Publish the transaction's writes."""
        self.control.action("commit", name=self.name)

    def rollback(self) -> None:
        """Discard the transaction's writes."""
        self.control.action("rollback", name=self.name)


class SimulatorControl:
    """Client of ``POST /sim/control`` with the same controls as :class:`OdooSimulator`."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def action(self, action: str, **params) -> dict:
        """Send one control action and return the decoded answer."""
        body = json.dumps({"action": action, **params}).encode()
        request = urllib.request.Request(self.url + "/sim/control", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            answer = json.loads(response.read())
        if not answer.get("ok"):
            raise RuntimeError(answer.get("error") or f"control action {action} failed")
        return answer

    @property
    def calls(self) -> Counter:
        """Object-service calls received, keyed by (model, method)."""
        answer = self.action("calls")
        return Counter({(m, meth): n for m, meth, n in answer["calls"]})

    def reset_calls(self) -> None:
        """Forget the counted calls."""
        self.action("reset_calls")

    def set_down(self, down: bool = True) -> None:
        """Make RPC routes drop connections (True) or answer again (False)."""
        self.action("down", value=bool(down))

    def set_latency(self, seconds: float) -> None:
        """Delay every RPC request by ``seconds``."""
        self.action("latency", seconds=seconds)

    def set_login_cost(self, seconds: float) -> None:
        """What one password check costs from now on, in seconds."""
        self.action("login_cost", seconds=seconds)

    @property
    def logins(self) -> Counter:
        """Logins attempted over RPC, keyed by login."""
        return Counter(self.action("logins")["logins"])

    def set_password(self, login: str, password: str) -> None:
        """Change the password of user ``login``."""
        self.action("set_password", login=login, password=password)

    def set_clock(self, value: str | None) -> None:
        """Freeze the simulator's clock at ``value`` (naive UTC), or None for real time."""
        self.action("clock", value=value)

    def begin_transaction(self, name: str | None = None) -> RemoteTransaction:
        """Open a held transaction."""
        answer = self.action("begin", name=name)
        return RemoteTransaction(self, answer["name"], answer["start"])

    def add_user(self, login: str, password: str, models=None, read_models=None,
                 name: str | None = None) -> int:
        """Create a user restricted to ``models`` (read-only on ``read_models``)."""
        return self.action("add_user", login=login, password=password, models=models,
                           read_models=read_models, name=name)["uid"]

    def add_api_key(self, uid: int) -> str:
        """A new JSON-2 API key of user ``uid``."""
        return self.action("add_api_key", uid=uid)["key"]

    def execute(self, model: str, method: str, *args, txn: str | None = None, **kwargs):
        """Call a model method as admin, without going through RPC counting."""
        return self.action("execute", model=model, method=method, args=list(args),
                           kwargs=kwargs, txn=txn)["result"]
