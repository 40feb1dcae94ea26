"""What an attribute history (``account_attributes``) adds to the feature build, paired with the same build
without it: load + plan + build at 1 and at 12 weekly snapshots (default 1,000,000 accounts x 120 days x 20
events each, the serve_bench world, plus ~4.5 history rows per account: ~4.5 M rows).

    python benchmarks/attributes_bench.py                                   # 1 M accounts, ~4.5 M history rows
    python benchmarks/attributes_bench.py --accounts 100000 --chunk 0       # smaller

The history is drawn once from the cached world's accounts (plan, seat_limit, employees and a history-only
``funding_stage_then``: a row at sign-up and changes over the period) and written beside symlinks of the four
tables, so both folders hold the same events. Each scenario runs in fresh processes, without and with the
history, alternately (``--repeat``; the fastest of each is reported, and the least CPU time of each, which
moves less than wall time when the machine is shared).
"""
from __future__ import annotations

from pathlib import Path

import _common as c

# per attribute: the share of accounts with a row at sign-up, and the share with a later change (~4.5 M rows at 1 M)
ROWS = {"plan": (1.0, 0.4), "seat_limit": (1.0, 0.2), "employees": (1.0, 0.6), "funding_stage_then": (0.0, 0.3)}


def worker(params: dict) -> dict:
    st = c.Stages()
    report, spec, frame = c.load_plan_build(st, params["dir"], params["snapshots"])
    st.info.update(rows=len(frame), columns=len(spec.names), history=report.rows_read.get("account_attributes", 0),
                   peak_mib=c.peak_rss_mib())
    return st.result()


def with_history(folder: Path, seed: int = 7) -> Path:
    """``folder`` plus an account_attributes table drawn from its accounts (cached beside it)."""
    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq

    out = folder.with_name(folder.name + "-history2")
    if (out / "account_attributes.parquet").exists():
        return out
    out.mkdir(exist_ok=True)
    for name in ("accounts", "events", "conversions", "touches", "meta.json"):
        if (folder / name).exists() or (folder / f"{name}.parquet").exists():
            target = folder / name if (folder / name).exists() else folder / f"{name}.parquet"
            link = out / target.name
            if not link.exists():
                link.symlink_to(target)
    accounts = pq.read_table(folder / "accounts" if (folder / "accounts").exists() else folder / "accounts.parquet",
                             columns=["account_id", "created_at", "plan", "seat_limit", "employees",
                                      "funding_stage"]).to_pandas()
    rng = np.random.default_rng(seed)
    created = accounts["created_at"].to_numpy().astype("datetime64[us]").astype(np.int64)
    end = created.max()
    parts = []
    for name, (signup, share) in ROWS.items():
        source = "funding_stage" if name == "funding_stage_then" else name
        first = np.flatnonzero(rng.random(len(accounts)) < signup)
        parts.append(pd.DataFrame({"account_id": accounts["account_id"].iloc[first].to_numpy(), "attribute": name,
                                   "value": accounts[source].astype(str).to_numpy()[first],
                                   "valid_from": created[first]}))
        later = np.flatnonzero(rng.random(len(accounts)) < share)
        when = created[later] + (rng.random(len(later)) * (end - created[later])).astype(np.int64)
        values = (rng.choice(["free", "team", "paid"], len(later)) if name == "plan" else
                  rng.choice(["seed", "series_a", "series_b_plus"], len(later)) if name == "funding_stage_then" else
                  (pd.to_numeric(accounts[source].iloc[later]).to_numpy() * rng.uniform(1.1, 3, len(later))
                   ).round().astype(np.int64).astype(str))
        parts.append(pd.DataFrame({"account_id": accounts["account_id"].iloc[later].to_numpy(), "attribute": name,
                                   "value": values, "valid_from": when + 1}))
    history = pd.concat(parts, ignore_index=True)
    history["valid_from"] = history["valid_from"].astype("datetime64[us]")
    history.sample(frac=1.0, random_state=seed).to_parquet(out / "account_attributes.parquet", index=False)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = c.world_parser(__doc__.splitlines()[0])
    parser.set_defaults(accounts=1_000_000, days=120, events_per_account=20.0, chunk=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", default="2024-01-01")
    parser.add_argument("--snapshots", type=int, nargs="+", default=[1, 12])
    parser.add_argument("--repeat", type=int, default=2, help="fresh processes per scenario and side")
    args = parser.parse_args(argv)
    folder = c.ensure_world(args.accounts, args.days, args.events_per_account, args.seed, args.start,
                            args.chunk or None)
    history = with_history(folder, args.seed)
    rows = []
    for n in args.snapshots:
        best: dict[str, dict] = {}
        for _ in range(args.repeat):
            for side, path in (("without", folder), ("with", history)):
                res = c.run_worker(__file__, {"dir": str(path), "snapshots": n})
                total = sum(r["seconds"] for r in res["stages"][1:])
                print(f"  {n} snapshot(s), {side}: load + plan + build {total:.2f} s, CPU {res['child_cpu_s']:.2f} s; "
                      f"load average {c.load_average()}", flush=True)
                if side not in best or total < best[side]["total"]:
                    best[side] = {"total": total, **res, "cpu": min(res["child_cpu_s"], best.get(side, {}).get(
                        "cpu", float("inf")))}
                best[side]["cpu"] = min(best[side]["cpu"], res["child_cpu_s"])
        rows.append((n, best))
    print(f"\nattributes_bench: {args.accounts:,} accounts, {best['with']['info']['history']:,} history rows; "
          f"{c.machine()}")
    print("| snapshots | stage | without s | with s | added |")
    print("|---:|---|---:|---:|---:|")
    for n, best in rows:
        stages = {side: {r["stage"]: r["seconds"] for r in best[side]["stages"]} for side in best}
        for stage in ("load_tables + validation", "plan_features", "build_features"):
            a, b = stages["without"][stage], stages["with"][stage]
            print(f"| {n} | {stage} | {a:.2f} | {b:.2f} | {100 * (b - a) / a:+.0f} % |")
        a, b = best["without"]["total"], best["with"]["total"]
        print(f"| {n} | load + plan + build | {a:.2f} | {b:.2f} | {100 * (b - a) / a:+.0f} % |")
        a, b = best["without"]["cpu"], best["with"]["cpu"]  # all threads; steadier than wall time on a busy machine
        print(f"| {n} | CPU seconds of the process | {a:.2f} | {b:.2f} | {100 * (b - a) / a:+.0f} % |")


if __name__ == "__main__":
    c.entry(worker, main)
