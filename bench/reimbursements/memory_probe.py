"""Memory probe: feed a big claim file into a store already seeded by feed_bench.py
(`--suffix=mem`, SQLite), log the feeder's RSS and CPU every 5 s and the claims stored every 30 s.

    PYTHONPATH=src .venv/bin/python bench/reimbursements/memory_probe.py /tmp/big.ndjson [STORE_DIR]
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import benchlib as bl

store = sys.argv[2] if len(sys.argv) > 2 else str(bl.STATE_ROOT / "remb-sqlitemem")
env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDMP_")}
env.update({"OPENDMP_DATA_DIR": store, "OPENDMP_DEV_MODE": "true"})
path = sys.argv[1]
start = time.perf_counter()
child = subprocess.Popen(
    [bl.OPENDMP, "feed", "reimbursements", path], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
)
last_count = 0.0
while child.poll() is None:
    rss = bl.rss_bytes(child.pid) / 2**20
    line = f"t={time.perf_counter() - start:7.1f}s rss={rss:6.1f}MB cpu={bl.cpu_seconds(child.pid):7.1f}s"
    if time.perf_counter() - last_count > 30:
        try:
            c = sqlite3.connect(f"file:{store}/opendmp.sqlite3?mode=ro", uri=True, timeout=1)
            n = c.execute("select count(*) from reimbursement_claim").fetchone()[0]
            c.close()
            line += f" claims={n}"
        except sqlite3.Error as e:
            line += f" claims=? ({e})"
        last_count = time.perf_counter()
    print(line, flush=True)
    time.sleep(5)
assert child.stdout is not None
summary = child.stdout.read().decode().strip()
print("exit", child.returncode, summary, f"wall={time.perf_counter() - start:.1f}s", flush=True)
