#!/usr/bin/env python3
"""Prints the latest results of a scenario as Parley, baseline and their ratio; with
--chart, draws latency against throughput for the message scenarios (needs matplotlib).

    bench/report.py RESULTS.jsonl SCENARIO
    bench/report.py RESULTS.jsonl --chart OUT.png
"""
import json
import sys
from collections import defaultdict


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def latest_runs(records, scenario):
    """The records of the newest run of each (server, size) for the scenario."""
    runs = defaultdict(list)
    for r in records:
        if r.get("scenario") == scenario:
            runs[(r["server"], r.get("users"), r["startedAt"])].append(r)
    newest = {}
    for (server, users, started), rs in runs.items():
        key = (server, users)
        if key not in newest or newest[key][0] < started:
            newest[key] = (started, rs)
    return {key: rs for key, (_, rs) in newest.items()}


def figures(scenario, rs):
    """Named figures of one run; higher is better unless the name says otherwise."""
    if scenario == "idle":
        r = rs[-1]
        return {
            f"connected of {r['users']}": r["connected"],
            "server RSS KiB per connection (lower is better)": r["kibPerConnection"],
            "seconds to connect all (lower is better)": r["connectSeconds"],
        }
    if scenario == "presence":
        r = rs[-1]
        return {
            "status events delivered": r["statusEvents"],
            "status events/s (average)": r["statusEventsPerSec"],
            "status events/s (peak second)": r["peakStatusEventsPerSec"],
            "presence DB rows written/min (lower is better)": r["dbWritesPerMinute"],
        }
    steps = [r for r in rs if r["kind"] == "step"]
    if not steps:
        return {}
    # Sustained: the highest rate below the first failing step (every rate up to it held the
    # bounds). The highest passing step is shown too: a single step can fail on noise.
    sustained = None
    for r in steps:
        if not r["passed"]:
            break
        sustained = r
    best = max((r for r in steps if r["passed"]), key=lambda r: r["offered"], default=None)
    at = sustained or {}
    unit = "reads/s" if scenario == "history" else "messages/s"
    out = {
        f"sustained {unit} (every step up to it within bounds)": at.get("offered", 0),
        f"highest passing step, {unit}": best["offered"] if best else 0,
        "ack p50 ms at the sustained rate (lower is better)": at.get("ackP50Ms"),
        "ack p99 ms at the sustained rate (lower is better)": at.get("ackP99Ms"),
    }
    if scenario != "history":
        out["delivery p99 ms at the sustained rate (lower is better)"] = at.get("deliveryP99Ms")
        out["deliveries/s at the sustained rate"] = at.get("deliveriesPerSec")
    out["generator CPU share at the sustained rate"] = at.get("generatorCpu")
    return out


def table(records, scenario):
    runs = latest_runs(records, scenario)
    sizes = sorted({users for (_, users) in runs}, key=lambda u: u or 0)
    for users in sizes:
        parley = figures(scenario, runs.get(("parley", users), []))
        baseline = figures(scenario, runs.get(("baseline", users), []))
        title = scenario if users is None else f"{scenario}, {users} users"
        print(f"\n{title}")
        print(f"  {'figure':<52} {'Parley':>10} {'baseline':>10} {'ratio':>7}")
        for name in list(parley) + [n for n in baseline if n not in parley]:
            p, b = parley.get(name), baseline.get(name)
            ratio = f"{p / b:.2f}" if isinstance(p, (int, float)) and isinstance(b, (int, float)) and b else "-"
            print(f"  {name:<52} {fmt(p):>10} {fmt(b):>10} {ratio:>7}")


def fmt(v):
    if v is None:
        return "-"
    return f"{v:,.1f}" if isinstance(v, float) and not v.is_integer() else f"{int(v):,}"


def chart(records, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = ["dm", "group", "big-room"]
    fig, axes = plt.subplots(1, len(scenarios), figsize=(15, 4.5))
    for ax, scenario in zip(axes, scenarios):
        for (server, _), rs in sorted(latest_runs(records, scenario).items()):
            steps = [r for r in rs if r["kind"] == "step"]
            if not steps:
                continue
            x = [r["achieved"] for r in steps]
            style = {"parley": "tab:blue", "baseline": "tab:orange"}.get(server, "tab:gray")
            ax.plot(x, [r["ackP99Ms"] for r in steps], "o-", color=style, label=f"{server} ack p99")
            ax.plot(x, [r["deliveryP99Ms"] for r in steps], "s--", color=style, label=f"{server} delivery p99")
        ax.axhline(50, color="gray", linewidth=0.8, linestyle=":")
        ax.axhline(100, color="gray", linewidth=0.8, linestyle=":")
        ax.set_yscale("log")
        ax.set_title(scenario)
        ax.set_xlabel("messages/s acknowledged")
        ax.set_ylabel("p99 latency, ms (log)")
        ax.legend(fontsize=7)
    fig.suptitle("Latency against throughput (bounds: ack 50 ms, delivery 100 ms)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"chart written to {out}")


def main():
    if len(sys.argv) == 4 and sys.argv[2] == "--chart":
        chart(load(sys.argv[1]), sys.argv[3])
    elif len(sys.argv) == 3:
        table(load(sys.argv[1]), sys.argv[2])
    else:
        print(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
