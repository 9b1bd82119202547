"""Recorded-device latency predictor: fit on 100 architectures, predict the other ~15,000.

For each recorded device and each seed, draws --train architectures at random (seeded)
from the NAS-Bench-201 table, fits ``nasc.latency.recorded.fit_recorded`` on their
recorded latencies and predicts every other architecture.  The 341 architectures whose
output is cut off from the input are left out of both.  Reported per device: the share of
predictions within +-10% of the recorded value and Kendall's tau, median and worst over
the seeds, side by side with the per-edge additive baseline (one least-squares
coefficient per op per edge plus an intercept, on the same sample) and with ablations:
the device's robust loss on op counts over all edges, over the live edges (on an
input -> output path), over the edges the folding rule says run, and on the baseline's
per-edge features; and the device's features with the other loss.

Targets (median over seeds): within +-10% at least 95% on the Titan Xp and the Xeon Gold
6226, at least 75% on the Raspberry Pi 4.  Exit 1 on a miss.

    python benchmarks/recorded_predictor.py [--seeds 5] [--train 100]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import Target, at_least, result_path, verdict, write_json  # noqa: E402

import numpy as np  # noqa: E402
from scipy.stats import kendalltau  # noqa: E402

from nasc.latency import nb201_cell, robust_fit  # noqa: E402
from nasc.latency.recorded import DEVICES, RecordedDevice, RecordedTable, fit_recorded, op_indices  # noqa: E402

BOUNDS = {"recorded-titanxp": 0.95, "recorded-xeon-gold-6226": 0.95, "recorded-raspi4": 0.75}
Predictor = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (train rows, test rows) -> predictions


def ablations(ops: np.ndarray, y: np.ndarray, device: RecordedDevice) -> dict[str, Predictor]:
    """Alternative feature sets fitted with the device's loss, and its features with the other loss."""
    def robust(X: np.ndarray, loss: str = device.loss) -> Predictor:
        return lambda tr, te: robust_fit.fit_linear(X[tr], y[tr], loss).predict(X[te])

    def counts(mask: np.ndarray) -> np.ndarray:
        return nb201_cell.count_features(ops, mask)

    other = next(name for name in robust_fit.LOSSES if name != device.loss)
    return {"op counts over all edges": robust(counts(ops != nb201_cell.NONE)),
            "op counts over live edges": robust(counts(nb201_cell.live_edges(ops))),
            "op counts over the edges the folding rule runs": robust(counts(nb201_cell.executed_edges(ops, "folding"))),
            "per-edge one-hot, the device's loss": robust(nb201_cell.per_edge_onehot(ops)),
            f"the device's features, {other} loss": robust(nb201_cell.features(ops, device.runtime), other)}


def judge(predicted: np.ndarray, measured: np.ndarray) -> tuple[float, float]:
    return robust_fit.within(predicted, measured), float(kendalltau(predicted, measured)[0])


def summary(runs: list[tuple[float, float]]) -> dict[str, Any]:
    shares, taus = [r[0] for r in runs], [r[1] for r in runs]
    return {"within_10pct_median": round(statistics.median(shares), 4), "within_10pct_worst": round(min(shares), 4),
            "kendall_tau_median": round(statistics.median(taus), 4),
            "within_10pct_per_seed": [round(s, 4) for s in shares]}


def run_device(name: str, table: RecordedTable, ops: np.ndarray, keep: np.ndarray, seeds: int,
               n_train: int) -> dict[str, Any]:
    y = np.asarray(table.latency_ms[DEVICES[name].column])
    onehot = nb201_cell.per_edge_onehot(ops)
    rows: dict[str, list[tuple[float, float]]] = {"model": [], "baseline": []}
    cv_shares, first_model = [], None
    for seed in range(seeds):
        train = np.sort(np.random.default_rng(seed).choice(keep, n_train, replace=False))
        test = np.setdiff1d(keep, train)
        model = fit_recorded(name, [int(i) for i in train], seed=seed, table=table)
        first_model = first_model or model.to_dict()
        cv_shares.append(round(model.cv_within_10pct, 4))
        rows["model"].append(judge(model.predict_many([table.arch_strs[i] for i in test]), y[test]))
        base = robust_fit.least_squares(onehot[train], y[train])
        rows["baseline"].append(judge(base.predict(onehot[test]), y[test]))
        for label, predict in ablations(ops, y, DEVICES[name]).items():
            rows.setdefault(label, []).append(judge(predict(train, test), y[test]))
    out = {label: summary(r) for label, r in rows.items()}
    print(f"{name}: within +-10% {out['model']['within_10pct_median']:.3f} (worst "
          f"{out['model']['within_10pct_worst']:.3f}), baseline {out['baseline']['within_10pct_median']:.3f}")
    return {"runtime": DEVICES[name].runtime, "loss": DEVICES[name].loss, "model": out.pop("model"),
            "baseline_per_edge_additive": out.pop("baseline"), "ablations": out,
            "cv_within_10pct_per_seed": cv_shares, "model_seed0": first_model}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5, help="random training samples per device")
    ap.add_argument("--train", type=int, default=100, help="architectures fitted on per sample")
    ap.add_argument("--out", default=result_path("recorded_predictor"))
    args = ap.parse_args()
    t0 = time.perf_counter()
    table = RecordedTable.load()
    ops = op_indices(table.arch_strs)
    keep = np.flatnonzero(nb201_cell.reaches_output(ops))
    devices = {name: run_device(name, table, ops, keep, args.seeds, args.train) for name in DEVICES}
    targets: dict[str, Target] = {
        f"{name} share within +-10% (median of {args.seeds} seeds)":
            at_least(devices[name]["model"]["within_10pct_median"], bound) for name, bound in BOUNDS.items()}
    doc = {"benchmark": "recorded_predictor", "train_archs": args.train, "seeds": list(range(args.seeds)),
           "evaluated_archs": int(len(keep) - args.train), "left_out_cut_off": int(len(ops) - len(keep)),
           "rule": "|predicted - recorded| <= 10% of recorded; Kendall tau over all held-out architectures",
           "devices": devices, "seconds": round(time.perf_counter() - t0, 1)}
    write_json(doc, args.out, targets)
    return verdict(targets)


if __name__ == "__main__":
    raise SystemExit(main())
