"""python -m demo --out FOLDER [--variant NAME --accounts N ...]: write a demo world's tables to a folder."""
from __future__ import annotations

import argparse
import resource
import time
from typing import Sequence

import demo
from demo import VARIANTS, DemoConfig, generate_demo


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: write a demo world (optionally a quirk variant) to a folder and print its row counts."""
    parser = argparse.ArgumentParser(prog="python -m demo", description=demo.__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder to write the Parquet tables into")
    parser.add_argument("--variant", choices=list(VARIANTS), help="a ready-made real-data quirk variant")
    parser.add_argument("--accounts", type=int)
    parser.add_argument("--days", type=int)
    parser.add_argument("--start")
    parser.add_argument("--events-per-account", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--no-truth", action="store_true", help="skip truth.parquet")
    args = parser.parse_args(argv)
    given = {k: getattr(args, k) for k in ("accounts", "days", "start", "events_per_account", "seed")
             if getattr(args, k) is not None}
    began = time.perf_counter()
    world = generate_demo(DemoConfig.variant(args.variant, **given) if args.variant else DemoConfig(**given))
    path = world.write(args.out, weekly_truth=not args.no_truth)
    for name in ("accounts", "events", "conversions", "touches", "users", "account_attributes"):
        frame = getattr(world, name)
        print(f"{name:18s} {'none' if frame is None else f'{len(frame):,d} rows':>17s}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"wrote {path} in {time.perf_counter() - began:.1f} s, peak RSS {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
