"""Measure matter classification: top-1/top-3 accuracy, auto-routing at the threshold, speed.

    python bench/classify.py [--list matter_list.csv] [--labelled labelled_descriptions.csv]
                             [--threshold 0.35] [--tune]

The labelled set is split once and for all: rows 0, 2, 4... (0-based data rows) are the
tune half, rows 1, 3, 5... the report half. Parameters may only be chosen on the tune
half (--tune searches a small grid there); figures to quote are the report half's. This
prints figures and never decides pass or fail.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness.reports import read_labelled
from dispatch.core.settings import Settings
from dispatch.reference.lists.classify import (
    DEFAULT_PARAMS,
    Classifier,
    ClassifierParams,
    is_confident,
)
from dispatch.reference.lists.importer import rules_from_file
from dispatch.reference.lists.rules import MatterRules

DEMO = Path(__file__).resolve().parents[1] / "dispatch" / "demo" / "data"


@dataclass(frozen=True)
class Figures:
    """Accuracy of one classifier over one set of labelled descriptions."""

    n: int
    top1: int
    top3: int
    auto: int
    auto_right: int
    # Log-loss of "the top suggestion is right" against its confidence: lower is better
    # calibrated, which is what makes a threshold meaningful.
    log_loss: float

    def line(self, label: str) -> str:
        """Format the figures as one report line."""
        return (
            f"{label:<12} n={self.n:<4} top-1 {_pct(self.top1, self.n)}  "
            f"top-3 {_pct(self.top3, self.n)}  auto-routed {_pct(self.auto, self.n)} "
            f"({self.auto}/{self.n})  precision of auto-routed {_pct(self.auto_right, self.auto)} "
            f"({self.auto_right}/{self.auto})  top-1 log-loss {self.log_loss:.3f}"
        )


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "   n/a"


def evaluate(classifier: Classifier, items: list[tuple[str, str]], threshold: float) -> Figures:
    """Classify every description and count hits."""
    top1 = top3 = auto = auto_right = 0
    loss = 0.0
    for text, code in items:
        suggestions = classifier.suggest(text, k=3)
        codes = [s.code for s in suggestions]
        right = codes[:1] == [code]
        top1 += right
        top3 += code in codes
        if is_confident(suggestions, threshold):
            auto += 1
            auto_right += right
        p = min(max(suggestions[0].score if suggestions else 0.0, 1e-3), 1 - 1e-3)
        loss -= math.log(p if right else 1 - p)
    return Figures(len(items), top1, top3, auto, auto_right, loss / max(len(items), 1))


def tune(rules: MatterRules, items: list[tuple[str, str]]) -> ClassifierParams:
    """Search a small grid on the tune half: best top-1, then top-3; then calibrate there."""
    best: tuple[tuple[int, int], ClassifierParams] | None = None
    grid = itertools.product((0.0, 0.3, 0.7, 1.0), (0.5, 0.75), (0.5, 1.0, 2.0), (1.0, 2.0))
    for unigram, b, bonus, keyword_weight in grid:
        params = replace(
            DEFAULT_PARAMS,
            unigram_weight=unigram,
            b=b,
            keyword_bonus=bonus,
            keyword_weight=keyword_weight,
        )
        figures = evaluate(Classifier.build(rules, params), items, 1.1)
        key = (figures.top1, figures.top3)
        if best is None or key > best[0]:
            best = (key, params)
    assert best is not None
    calibrated: tuple[float, ClassifierParams] | None = None
    for temperature, null in itertools.product((2.0, 3.0, 4.0, 5.0, 6.0), (0.0, 4.0, 8.0)):
        candidate = replace(best[1], temperature=temperature, null_score=null)
        loss = evaluate(Classifier.build(rules, candidate), items, 1.1).log_loss
        if calibrated is None or loss < calibrated[0]:
            calibrated = (loss, candidate)
    assert calibrated is not None
    return calibrated[1]


def speed(classifier: Classifier, texts: list[str], seconds: float = 1.5) -> float:
    """Return classifications per second over the descriptions, cycled."""
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for text in texts:
            classifier.suggest(text)
        done += len(texts)
    return done / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--list", type=Path, default=DEMO / "matter_list.csv")
    parser.add_argument("--labelled", type=Path, default=DEMO / "labelled_descriptions.csv")
    parser.add_argument("--threshold", type=float, default=Settings().classify_threshold)
    parser.add_argument("--tune", action="store_true", help="search parameters on the tune half")
    args = parser.parse_args(argv)
    for path in (args.list, args.labelled):
        if not path.is_file():
            print(f"missing {path}: the demo data has not been generated yet", file=sys.stderr)
            return 2

    rules = rules_from_file(args.list)
    items = read_labelled(args.labelled)
    known = {m.code for m in rules.matters}
    unknown = sorted({code for _, code in items if code not in known})
    if unknown:
        print(f"labels not in the list (counted as misses): {', '.join(unknown)}")
    tune_half, report_half = items[0::2], items[1::2]

    params = DEFAULT_PARAMS
    if args.tune:
        params = tune(rules, tune_half)
        print(f"tuned on the tune half: {params}")
    started = time.perf_counter()
    classifier = Classifier.build(rules, params)
    built_ms = 1000 * (time.perf_counter() - started)

    print(f"matters {classifier.size}, labelled {len(items)}, threshold {args.threshold}")
    for label, subset in (("tune half", tune_half), ("report half", report_half), ("all", items)):
        print(evaluate(classifier, subset, args.threshold).line(label))
    plain = Classifier.build(rules, replace(params, unigram_weight=0.0))
    print(evaluate(plain, report_half, args.threshold).line("report, no 1-gram"))
    print("threshold sweep on the report half:")
    for threshold in (0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8):
        print("  " + evaluate(classifier, report_half, threshold).line(f"at {threshold:.2f}"))
    rate = speed(classifier, [text for text, _ in items])
    print(f"index built in {built_ms:.1f} ms; {rate:,.0f} classifications/s (k=3, one thread)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
