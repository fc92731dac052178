"""An Odoo 17 RPC simulator (XML-RPC and JSON-RPC) backed by SQLite.

It stands for an independent Odoo server in tests, benchmarks and the demo, so it imports
nothing from the rest of the product::

    from connector.simulator import OdooSimulator
    sim = OdooSimulator(database="odootest", demo=True).start()
    # odoorpc.ODOO("127.0.0.1", port=sim.port).login("odootest", "admin", "admin")
    sim.stop()

The behaviour is pinned to recordings of a real Odoo 17 (see the conformance suite in
``tests/odoo``). Test controls: :attr:`OdooSimulator.calls`, ``set_down``,
``set_latency``, ``set_login_cost`` (a login costs ~0.5 s by default, as on a real Odoo 17;
tests pass ``login_cost=0``), ``logins``, ``set_password``, ``begin_transaction``,
``add_user``, ``now``, ``subscribe_auditlog``,
``execute`` (a Python call as admin); over HTTP through ``POST /sim/control`` and
:class:`SimulatorControl`. ``python -m connector.simulator --port 8069`` runs one.
"""

from .controls import RemoteTransaction, SimulatorControl, Transaction
from .cpu import DEFAULT_LOGIN_COST, HashCpu
from .simulator import OdooSimulator


def serve(host: str = "127.0.0.1", port: int = 8069, database: str = "odootest",
          auditlog: bool = False, demo: bool = True, path: str | None = None,
          audit_models=(), login_cost: float = DEFAULT_LOGIN_COST,
          latency: float = 0.0) -> None:
    """Run a simulator in the foreground until interrupted (Ctrl-C or SIGTERM via the CLI).

    ``audit_models``: with ``auditlog``, models to subscribe a full auditlog rule on.
    ``login_cost`` and ``latency``: see :class:`OdooSimulator`.
    """
    sim = OdooSimulator(database=database, path=path, auditlog=auditlog, demo=demo,
                        login_cost=login_cost, latency=latency)
    for model in audit_models or ():
        sim.subscribe_auditlog(model)
    try:
        sim.serve_forever(host, port)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


__all__ = ["DEFAULT_LOGIN_COST", "HashCpu", "OdooSimulator", "RemoteTransaction",
           "SimulatorControl", "Transaction", "serve"]
