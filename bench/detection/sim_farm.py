"""Odoo simulators in a process of their own, so the poller being measured keeps its CPU.

``python -m bench.detection.sim_farm COUNT LATENCY LOGIN_COST``: starts COUNT simulators
(demo data), prints one JSON line with their URLs and serves until its stdin closes.
"""

from __future__ import annotations

import json
import sys

from connector.simulator import OdooSimulator


def main() -> None:
    count, latency, login_cost = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    sims = []
    try:
        for index in range(count):
            sim = OdooSimulator(database=f"farm{index}", demo=True, login_cost=login_cost,
                                latency=latency)
            sims.append(sim.start(host="127.0.0.1", port=0))
        print(json.dumps({"urls": [sim.url for sim in sims],
                          "databases": [sim.database for sim in sims]}), flush=True)
        sys.stdin.read()  # until the benchmark closes the pipe (or dies)
    finally:
        for sim in sims:
            sim.stop()


if __name__ == "__main__":
    main()
