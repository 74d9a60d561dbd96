"""Held-out accuracy of the latency model's calibration fit, from stored measurements (nothing is measured).

Reads the JSON lines of ``bench_latency.py`` runs (the same random points measured in several runs) and a lookup
table that holds every op of those points, recomputes each point's table sums by op class (ops with MACs, others)
and compares fits of the whole-net latency on points they were not fitted on:

1. Selection split (points of even index): 5-fold cross-validation of candidate fits (one scale; two scales by op
   class; a scale per op type; each plus a per-op term or an activation-bytes term), pooled median APE. The fit is
   chosen here.
2. Report split (points of odd index): the same k-fold for one scale and the chosen fit, per space and set.
3. The shipped protocol: fit on the zoo nets stored in the table's calibration plus K random points of each space
   (drawn 20 times), report on all other points at that input shape.
4. The noise floor: Spearman's rho between two runs' measurements of the same points.

The target of a point is the median of its measured CPU times over the runs (1-3 runs); relative least squares
(``nascomp.hardware.fit``). Usage:
    python benchmarks/bench_latency_fit.py --table TABLE.json RUN.jsonl [RUN.jsonl ...]
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

import numpy as np
from scipy.optimize import nnls
from scipy.stats import spearmanr

from nascomp.hardware import LatencySettings
from nascomp.hardware.fit import CalibrationRow, fit_calibration, is_compute_op
from nascomp.hardware.table import node_key
from nascomp.hardware.model import LatencyModel
from nascomp.spec.load import load_spec
from nascomp.search.space.search_space import load_space

CANDIDATES = {
    "one scale": ["sum"],
    "one scale + per op": ["sum", "ops"],
    "one scale + MiB moved": ["sum", "mib"],
    "two scales (MACs / no MACs)": ["compute", "memory"],
    "two scales + per op": ["compute", "memory", "ops"],
    "two scales + MiB moved": ["compute", "memory", "mib"],
    "scale per op type": ["t_conv", "t_gconv", "t_bn", "t_relu", "t_concat", "t_elem", "t_pool"],
}
CHOSEN = "two scales (MACs / no MACs)"
ZOO_NETS = ("resnet18", "resnet50", "densenet121", "se_resnext50_32x4d")  # an older table's calibration, in order


def op_type(node) -> str:
    name = node.op.name
    if name in ("conv2d", "linear"):
        return "t_gconv" if node.params.get("groups", 1) > 1 else "t_conv"
    if name in ("batch_norm2d", "relu", "concat"):
        return {"batch_norm2d": "t_bn", "relu": "t_relu", "concat": "t_concat"}[name]
    return "t_pool" if "pool" in name else "t_elem"


def features(model: LatencyModel, spec) -> dict[str, float]:
    f: dict[str, float] = collections.defaultdict(float)
    for n in model.nodes(spec):
        ms = model.table.entries[node_key(n, model.settings)]
        f["sum"] += ms
        f["ops"] += 1
        f["compute" if is_compute_op(n) else "memory"] += ms
        f[op_type(n)] += ms
        f["mib"] += 4 * (sum(int(np.prod(s)) for s in n.in_shapes) + int(np.prod(n.out_shape))) / 2**20
    return f


def load_points(model: LatencyModel, paths: list[str]) -> list[dict]:
    points: dict[tuple, dict] = {}
    spaces = {}
    for path in paths:
        for line in Path(path).read_text().splitlines():
            r = json.loads(line)
            if r.get("measured_cpu_ms") is None:
                continue
            key = (r["space"], r["set"], r["input"], json.dumps(r["point"], sort_keys=True))
            if key not in points:
                shape = tuple(int(v) for v in r["input"].split("x"))
                space = spaces.setdefault(r["space"], load_space(r["space"]))
                spec = space.spec(r["point"], num_classes=1000, input_shape=shape)
                points[key] = {"space": r["space"], "set": r["set"], "input": r["input"], "index": r["index"],
                               "macs": r["macs"], "runs": {}, "f": features(model, spec)}
            points[key]["runs"][Path(path).stem] = r["measured_cpu_ms"]
    for p in points.values():
        p["y"] = float(np.median(list(p["runs"].values())))
    return list(points.values())


def nnls_fit(train: list[dict], names: list[str]) -> np.ndarray:
    a = np.array([[p["f"][n] for n in names] for p in train])
    y = np.array([p["y"] for p in train])
    return nnls(a / y[:, None], np.ones_like(y))[0]


def kfold(points: list[dict], names: list[str], k: int = 5, seed: int = 0) -> np.ndarray:
    idx = np.random.RandomState(seed).permutation(len(points))
    pred = np.zeros(len(points))
    for fold in np.array_split(idx, k):
        held = set(fold.tolist())
        coef = nnls_fit([points[i] for i in idx if i not in held], names)
        pred[fold] = [np.dot(coef, [points[i]["f"][n] for n in names]) for i in fold]
    return pred


def groups(points: list[dict]) -> dict[tuple, np.ndarray]:
    out: dict[tuple, list[int]] = collections.defaultdict(list)
    for i, p in enumerate(points):
        out[(p["space"], p["set"], p["input"])].append(i)
    return {g: np.array(v) for g, v in sorted(out.items())}


def scores(pred: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    return float(np.median(100 * np.abs(pred - y) / y)), float(spearmanr(pred, y).statistic)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", required=True, help="lookup-table folder holding every op of the runs' points")
    parser.add_argument("runs", nargs="+")
    args = parser.parse_args(argv)
    model = LatencyModel.open(LatencySettings(), cache_dir=Path(args.table), progress=False, calibration_nets=())
    points = load_points(model, args.runs)
    y = np.array([p["y"] for p in points])
    print(f"{len(points)} points; runs per point: {dict(collections.Counter(len(p['runs']) for p in points))}")

    print("\n1. selection split (even index), 5-fold, pooled:")
    sel = [p for p in points if p["index"] % 2 == 0]
    ysel = np.array([p["y"] for p in sel])
    for name, names in CANDIDATES.items():
        pred = kfold(sel, names)
        band = [i for i, p in enumerate(sel) if p["set"] == "band"]
        print(f"  {name:<30} median APE {scores(pred, ysel)[0]:5.1f} %   band rho "
              f"{scores(pred[band], ysel[band])[1]:.2f}")

    print("\n2. report split (odd index), 5-fold (mean of seeds 0-4): | group | n | one scale: median APE, rho | "
          f"{CHOSEN}: median APE, rho |")
    rep = [p for p in points if p["index"] % 2 == 1]
    yrep = np.array([p["y"] for p in rep])
    preds = {n: [kfold(rep, CANDIDATES[n], seed=s) for s in range(5)] for n in ("one scale", CHOSEN)}
    for g, idx in [*groups(rep).items(), (("pooled", "", ""), np.arange(len(rep)))]:
        cells = []
        for n in ("one scale", CHOSEN):
            s = np.mean([scores(pr[idx], yrep[idx]) for pr in preds[n]], axis=0)
            cells.append(f"{s[0]:.1f} % | {s[1]:.2f}")
        print(f"  | {' '.join(g)} | {len(idx)} | " + " | ".join(cells) + " |")

    print("\n3. shipped protocol at each input shape: zoo nets of the table's calibration + K random points per "
          "space, 20 draws; | shape | K | fit | group | median APE | rho |")
    for shape in sorted({p["input"] for p in points}):
        shape_t = tuple(int(v) for v in shape.split("x"))
        cal = model.table.calibration.get(shape, {})  # none stored: the K random points alone
        zoo = []  # the measured calibration nets of the table: an older table's rows (3 numbers) are the zoo nets'
        for net, row in zip(ZOO_NETS, cal.get("rows", [])):
            if len(row) == 4:  # a two-scale calibration: its own rows (all its nets), class sums included
                zoo = [CalibrationRow(r[0], r[1], int(r[2]), r[3]) for r in cal["rows"]]
                break
            f = features(model, load_spec(net, input_shape=shape_t))
            zoo.append(CalibrationRow(f["compute"], f["memory"], int(f["ops"]), float(row[-1])))
        at = [p for p in points if p["input"] == shape]
        for k in (0, 4) if zoo else (4,):
            for two in (False, True):
                res = collections.defaultdict(list)
                for draw in range(20 if k else 1):
                    rng = np.random.RandomState(draw)
                    chosen: list[int] = []
                    for space in sorted({p["space"] for p in at}):
                        cap = 3e9 * (shape_t[1] * shape_t[2]) / (224 * 224)  # the calibration nets' MACs cap
                        cand = [i for i, p in enumerate(at) if p["space"] == space and p["macs"] <= cap]
                        chosen += list(rng.choice(cand, k, replace=False)) if k else []
                    rows = zoo + [CalibrationRow(at[i]["f"]["compute"], at[i]["f"]["memory"], 0, at[i]["y"])
                                  for i in chosen]
                    fit = fit_calibration(rows, two_scales=two)
                    test = [p for i, p in enumerate(at) if i not in set(chosen)]
                    pred = np.array([fit.predict_ms(p["f"]["compute"], p["f"]["memory"]) for p in test])
                    yt = np.array([p["y"] for p in test])
                    for g, idx in groups(test).items():
                        res[g].append(scores(pred[idx], yt[idx]))
                for g, v in res.items():
                    m = np.mean(v, axis=0)
                    print(f"  | {shape} | {k} | {'two scales' if two else 'one scale'} | {g[0]} {g[1]} | "
                          f"{m[0]:.1f} % | {m[1]:.2f} |")

    print("\n4. noise floor: rho between two runs of the same points (CPU time)")
    names = sorted({r for p in points for r in p["runs"]})
    for g, idx in groups(points).items():
        for a in names:
            for b in names:
                both = [i for i in idx if a < b and a in points[i]["runs"] and b in points[i]["runs"]]
                if len(both) >= 10:
                    ra = [points[i]["runs"][a] for i in both]
                    rb = [points[i]["runs"][b] for i in both]
                    print(f"  {' '.join(g)}: {a} vs {b}: rho {spearmanr(ra, rb).statistic:.2f}, median |ratio - 1| "
                          f"{100 * np.median(np.abs(np.array(rb) / np.array(ra) - 1)):.1f} % ({len(both)} points)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
