"""poex demo algorithm: column statistics over every CSV file of the mounted datasets.

Reads each dataset named in POEX_DATASETS (a file, or a folder of CSV files), computes
count, mean, standard deviation, min and max of every numeric column, and writes
/out/summary.json and /out/report.txt. Only aggregates leave the sandbox, never rows.
"""
import csv
import json
import math
import os
import sys


def csv_files(path):
    if os.path.isfile(path):
        return [path]
    found = []
    for root, _dirs, files in os.walk(path):
        found += [os.path.join(root, f) for f in files if f.endswith(".csv")]
    return sorted(found)


def main():
    out = os.environ.get("POEX_OUT", "/out")
    columns = {}
    rows = 0
    for dataset in filter(None, os.environ.get("POEX_DATASETS", "").split(":")):
        for path in csv_files(dataset):
            with open(path, newline="") as f:
                for row in csv.DictReader(f):
                    rows += 1
                    for name, value in row.items():
                        try:
                            x = float(value)
                        except (TypeError, ValueError):
                            continue
                        c = columns.setdefault(name, {"n": 0, "sum": 0.0, "sq": 0.0, "min": x, "max": x})
                        c["n"] += 1
                        c["sum"] += x
                        c["sq"] += x * x
                        c["min"] = min(c["min"], x)
                        c["max"] = max(c["max"], x)
    summary = {"rows": rows, "columns": {}}
    for name, c in sorted(columns.items()):
        mean = c["sum"] / c["n"]
        var = max(c["sq"] / c["n"] - mean * mean, 0.0)
        summary["columns"][name] = {
            "count": c["n"], "mean": round(mean, 4), "stddev": round(math.sqrt(var), 4),
            "min": c["min"], "max": c["max"],
        }
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(out, "report.txt"), "w") as f:
        f.write(f"{rows} rows\n")
        for name, s in summary["columns"].items():
            f.write(f"{name:>10}: mean {s['mean']:>10} sd {s['stddev']:>9} min {s['min']:>8} max {s['max']:>8}\n")
    print(f"stats: {rows} rows, {len(columns)} numeric columns", file=sys.stderr)


if __name__ == "__main__":
    main()
