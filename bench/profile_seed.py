"""Profile `seed_platform` in-process (cProfile) against a fresh SQLite file or PostgreSQL URL.

.venv/bin/python bench/profile_seed.py --patients 20000 [--database-url URL] [--top 40]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=20000)
    parser.add_argument("--database-url", default=None, help="an already migrated database (default: fresh SQLite)")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--output", default=None, help="write the raw profile here")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="opendmp-profile-"))
    os.environ["OPENDMP_DATA_DIR"] = str(tmp)
    os.environ.setdefault("OPENDMP_DEV_MODE", "true")
    if args.database_url:
        os.environ["OPENDMP_DATABASE_URL"] = args.database_url

    from opendmp import migrate
    from opendmp.config import Settings
    from opendmp.runtime import build_runtime
    from opendmp.seed import seed_platform

    settings = Settings()
    if not args.database_url:
        migrate.upgrade(settings.resolved_database_url)
    runtime = build_runtime(settings, pool_size=2)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    report = seed_platform(runtime, patients=args.patients, seed=42)
    profiler.disable()
    elapsed = time.perf_counter() - started
    runtime.close()
    print(f"{report.records} records in {elapsed:.2f} s under the profiler ({report.records / elapsed:,.0f}/s)")
    if args.output:
        profiler.dump_stats(args.output)
    pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
