"""What the users table costs: load + plan + build_features of one world with and without its ``users`` table,
paired (the same events, in alternating fresh processes; the fastest of ``--repeat`` runs each).

    python benchmarks/people_bench.py                                  # 1 M accounts, 5 M users, 20 M events
    python benchmarks/people_bench.py --accounts 100000 --repeat 1     # smaller

The world is synthetic and written once into the cache (``people-*``): accounts signing up over ``--days``,
users ~Poisson(``--users-per-account``) per account joining after it, each with a title (15 % decision
makers), events naming a user of their account. "without" reads the same folder minus ``users.parquet``
(a folder of links), so the difference is the users table: reading and checking it, and the people columns.
"""
from __future__ import annotations

from pathlib import Path

import _common as c

TITLES = ["VP of Sales", "Head of Operations", "Director of Engineering", "CTO", "Geschäftsführer",
          "Software Engineer", "Account Executive", "Marketing Manager", "Designer", "Data Analyst",
          "Customer Success Manager", "Product Manager", "Sales Representative", "Intern", "Support Specialist"]
BUYER_WEIGHT = 0.03  # each of the five decision-maker titles: 15 % in all


def worker(params: dict) -> dict:
    st = c.Stages()
    report, spec, frame = c.load_plan_build(st, params["dir"], params["snapshots"])
    st.info.update(rows_read=report.rows_read, feature_rows=len(frame), feature_columns=len(spec.names))
    return st.result()


def ensure_people_world(accounts: int, users_per_account: float, events_per_account: float, days: int,
                        seed: int = 7) -> Path:
    """The folder of the synthetic world (generated on first use), and beside it the same without users."""
    import numpy as np
    import pandas as pd

    folder = c.CACHE / f"people-a{accounts}-u{users_per_account:g}-e{events_per_account:g}-d{days}-s{seed}"
    if (folder / "done").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01").value // 1000
    day = 86_400_000_000
    created = start + np.sort(rng.integers(0, days * day, accounts))
    ids = pd.array([f"acc{i:07d}" for i in range(accounts)], dtype="string[pyarrow]")
    pd.DataFrame({"account_id": ids, "created_at": created.astype("datetime64[us]"),
                  "employees": rng.integers(1, 500, accounts)}).to_parquet(folder / "accounts.parquet", index=False)
    per = 1 + rng.poisson(users_per_account - 1, accounts)
    owner = np.repeat(np.arange(accounts), per)
    k = np.arange(len(owner)) - np.repeat(np.cumsum(per) - per, per)
    joined = created[owner] + np.where(k == 0, 0, rng.integers(0, days * day, len(owner)) // 2)
    user_ids = pd.array(np.char.add(np.char.add(np.asarray(ids)[owner].astype(str), "_u"), k.astype(str)),
                        dtype="string[pyarrow]")
    weights = np.array([BUYER_WEIGHT] * 5 + [(1 - 5 * BUYER_WEIGHT) / (len(TITLES) - 5)] * (len(TITLES) - 5))
    titles = pd.Categorical.from_codes(rng.choice(len(TITLES), len(owner), p=weights), TITLES).astype(
        "string[pyarrow]")
    pd.DataFrame({"user_id": user_ids, "account_id": np.asarray(ids)[owner], "created_at": joined.astype(
        "datetime64[us]"), "title": titles}).to_parquet(folder / "users.parquet", index=False)
    n = int(accounts * events_per_account)
    who = rng.integers(0, len(owner), n)  # any user: events before a user joined are kept (the features drop them)
    ts = np.maximum(created[owner[who]] + rng.integers(0, days * day, n) // 2, created[owner[who]])
    order = np.argsort(ts, kind="stable")
    pd.DataFrame({"account_id": pd.array(np.asarray(ids)[owner[who[order]]], dtype="string[pyarrow]"),
                  "event": pd.Categorical.from_codes(rng.integers(0, 12, n)[order], [f"e{i}" for i in range(12)]
                                                     ).astype("string[pyarrow]"),
                  "timestamp": ts[order].astype("datetime64[us]"), "user_id": user_ids[who[order]]}
                 ).to_parquet(folder / "events.parquet", index=False)
    pd.DataFrame({"account_id": pd.Series([], dtype="string"), "converted_at": pd.Series([], dtype="datetime64[us]")}
                 ).to_parquet(folder / "conversions.parquet", index=False)
    without = folder / "without_users"
    without.mkdir(exist_ok=True)
    for name in ("accounts", "events", "conversions"):
        link = without / f"{name}.parquet"
        if not link.exists():
            link.symlink_to(folder / f"{name}.parquet")
    (folder / "done").write_text("ok")
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = c.world_parser(__doc__.splitlines()[0])
    parser.set_defaults(accounts=1_000_000, days=180, events_per_account=20.0)
    parser.add_argument("--users-per-account", type=float, default=5.0)
    parser.add_argument("--snapshots", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2,
                        help="alternating fresh processes per side; fastest wall time and least CPU time kept")
    args = parser.parse_args(argv)
    folder = ensure_people_world(args.accounts, args.users_per_account, args.events_per_account, args.days)
    best: dict[str, dict] = {}
    for _ in range(args.repeat):
        for side, path in (("without users", folder / "without_users"), ("with users", folder)):
            res = c.run_worker(__file__, {"dir": str(path), "snapshots": args.snapshots})
            stages = {r["stage"]: r["seconds"] for r in res["stages"]}
            total = sum(v for k, v in stages.items() if k != "imports")
            print(f"  {side}: " + ", ".join(f"{k} {v:.2f} s" for k, v in stages.items() if k != "imports")
                  + f"; rows read {res['info']['rows_read']}; load average {c.load_average()}")
            print(f"    CPU {res['child_cpu_s']:.2f} s (all threads)")
            if side not in best or total < best[side]["total"]:
                best[side] = {"total": total, **stages, "peak": res["child_maxrss_mib"],
                              "cpu": best.get(side, {}).get("cpu", float("inf"))}
            best[side]["cpu"] = min(best[side]["cpu"], res["child_cpu_s"])  # steadier than wall time when shared
    base, people = best["without users"], best["with users"]
    print(f"\npeople_bench: {args.accounts:,} accounts, users ~{args.users_per_account:g} each, "
          f"{int(args.accounts * args.events_per_account):,} events, {args.snapshots} snapshot(s); {c.machine()}")
    print(f"| {'stage':<26} | {'without users s':>15} | {'with users s':>12} | {'added':>7} |")
    print(f"|{'-' * 28}|{'-' * 16}:|{'-' * 13}:|{'-' * 8}:|")
    for key in ("load_tables + validation", "plan_features", "build_features", "total"):
        print(f"| {key:<26} | {base[key]:15.2f} | {people[key]:12.2f} | {people[key] / base[key] - 1:+7.0%} |")
    print(f"| {'CPU seconds of the process':<26} | {base['cpu']:15.2f} | {people['cpu']:12.2f} | "
          f"{people['cpu'] / base['cpu'] - 1:+7.0%} |")
    print(f"| {'peak RSS MiB':<26} | {base['peak']:15,.0f} | {people['peak']:12,.0f} | "
          f"{people['peak'] / base['peak'] - 1:+7.0%} |")


if __name__ == "__main__":
    c.entry(worker, main)
