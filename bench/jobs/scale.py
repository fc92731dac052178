"""Scale-out with work that waits: jobs that each make one Odoo call answered in 20 ms.

A trivial handler measures the pipeline's CPU cost; real tasks mostly wait for Odoo. Here each
job makes one ``search_count`` on a simulator (its own process, so the bench's interpreter does
not serve it) whose latency control holds every answer 20 ms, through Redis, with 1, 2 and 4
``syncstudio worker`` processes. The ratio to one worker says how far adding workers helps.
"""

from __future__ import annotations

import statistics
import subprocess
from pathlib import Path
from typing import Any

from connector.settings import Settings
from connector.simulator.controls import SimulatorControl
from connector.store.db import Database

SCALE_PROJECT = """
name: Bench scale-out
odoo: {{url: "{url}", database: bench, login: admin, password: "${{BENCH_ODOO_PASSWORD}}",
       protocol: jsonrpc}}
tasks:
  - name: One Odoo call
    code: |
      def handle_button():
          return env["res.partner"].search_count([])
    triggers:
      button: [{{trigger_name: ONE_CALL}}]
"""

LATENCY = 0.020


def start_simulator(cli: list[str], port: int, log_dir: Path) -> subprocess.Popen[bytes]:
    """``syncstudio odoo-sim`` on ``port`` in a process of its own."""
    with (log_dir / "odoo-sim.log").open("ab") as out:
        return subprocess.Popen([*cli, "odoo-sim", "--port", str(port), "--database", "bench"],
                                stdout=out, stderr=subprocess.STDOUT)


def scale_out(bench: Any, settings: Settings, db: Database, count: int, log_dir: Path,
              repeat: int, workers: tuple[int, ...] = (1, 2, 4)) -> list[tuple[str, str, str, str]]:
    """Rows of the result table; ``bench`` is :mod:`bench.jobs.__main__` (its helpers)."""
    port = bench.free_port()
    sim = start_simulator(bench.CLI, port, log_dir)
    url = f"http://127.0.0.1:{port}"
    try:
        control = SimulatorControl(url)

        def up() -> bool:
            try:
                control.action("status")
                return True
            except OSError:
                return False

        bench.wait_for(up, 60, f"the simulator on port {port}")
        control.set_latency(LATENCY)
        bench.import_project(settings, db, SCALE_PROJECT.format(url=url),
                             {"BENCH_ODOO_PASSWORD": "admin"})
        rates: dict[int, list[float]] = {n: [] for n in workers}
        for run in range(repeat):
            for n in workers:
                rate, finished, cores = bench.jobs_per_second(settings, db, n, count, log_dir,
                                                              run, trigger_name="ONE_CALL")
                rates[n].append(rate)
                print(f"  one 20 ms Odoo call per job, {n} worker process(es): {rate:.1f} "
                      f"jobs/s ({finished}/{count} done); cores busy: "
                      + ", ".join(f"{group} {used:.2f}" for group, used in cores.items()),
                      flush=True)
    finally:
        bench.stop(sim)
    medians = {n: statistics.median(values) for n, values in rates.items()}
    rows = []
    threads = settings.worker_threads
    for n in workers:
        ratio = medians[n] / medians[workers[0]] if medians[workers[0]] else 0.0
        target, result = ("", "")
        if n == 2:
            target, result = ">= 1.8x", "pass" if ratio >= 1.8 else "FAIL"
        rows.append((f"jobs/s, one 20 ms Odoo call each, {n} worker(s) x {threads} threads",
                     f"{medians[n]:.1f} ({ratio:.2f}x)", target, result))
    # With T threads and a call of L seconds, W workers cannot exceed W*T/L jobs/s.
    rows.append(("  bound of waiting alone, 1 worker (threads / latency)",
                 f"{threads / LATENCY:.0f}", "", ""))
    return rows
