"""Does the generator honour its condition? Level and defect-pattern checks of a trained run against real slices.

    python benchmarks/gan_conditioning.py RUN_DIR MANIFEST [--per-condition 100] [--epoch E]

Level: for each generated slice, the real per-level mean image it correlates with best must be the level asked
for. Pattern: generated unilateral slices must be more asymmetric (|log LR|) than generated normal ones
(one-sided Mann-Whitney U), with a median close to the real unilateral median.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu

from spect_toolkit.evaluate import asymmetry, normalise
from spect_toolkit.gan import generate
from spect_toolkit.manifest import load_manifest, load_slices


def level_accuracy(images: np.ndarray, levels: np.ndarray, real: np.ndarray, real_levels: np.ndarray) -> float:
    names = sorted(set(real_levels))
    means = np.stack([normalise(real[real_levels == name]).mean(axis=0).ravel() for name in names])
    means = (means - means.mean(1, keepdims=True)) / means.std(1, keepdims=True)
    flat = normalise(images).reshape(len(images), -1)
    flat = (flat - flat.mean(1, keepdims=True)) / np.maximum(flat.std(1, keepdims=True), 1e-8)
    best = np.array(names)[np.argmax(flat @ means.T, axis=1)]
    return float(np.mean(best == levels))


def conditioning_check(run_dir, manifest, per_condition: int = 100, epoch: int | None = None, seed: int = 0) -> dict:
    """The level and pattern checks of ``run_dir`` at ``epoch`` against ``manifest``'s real slices; ``passed``:
    level accuracy >= 0.9, unilateral more asymmetric than normal (P < 0.01), and the unilateral median within
    30 % of the real one."""
    manifest = manifest if isinstance(manifest, pd.DataFrame) else load_manifest(manifest)
    real = load_slices(manifest).slices
    samples = generate(run_dir, per_condition=per_condition, seed=seed, epoch=epoch)
    real_levels, real_patterns = manifest["level"].to_numpy(), manifest["pattern"].to_numpy()
    keep = np.isin(real_levels, np.unique(samples.level))
    accuracy = level_accuracy(samples.images, samples.level, real[keep], real_levels[keep])

    gen_asym = asymmetry(samples.images, samples.level)
    uni, normal = gen_asym[samples.pattern == "unilateral"], gen_asym[samples.pattern == "normal"]
    real_unilateral = keep & (real_patterns == "unilateral")
    real_uni = np.median(asymmetry(real[real_unilateral], real_levels[real_unilateral]))
    test = mannwhitneyu(uni, normal, alternative="greater")
    ratio = float(np.median(uni) / real_uni)
    return {
        "epoch": samples.epoch,
        "generated_slices": len(samples.images),
        "level_accuracy": round(accuracy, 4),
        "median_asymmetry_generated_unilateral": round(float(np.median(uni)), 4),
        "median_asymmetry_generated_normal": round(float(np.median(normal)), 4),
        "median_asymmetry_real_unilateral": round(float(real_uni), 4),
        "unilateral_vs_real_median_ratio": round(ratio, 3),
        "mann_whitney_p_unilateral_gt_normal": float(f"{test.pvalue:.3g}"),
        "passed": bool(accuracy >= 0.9 and test.pvalue < 0.01 and abs(ratio - 1) <= 0.3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir")
    parser.add_argument("manifest")
    parser.add_argument("--per-condition", type=int, default=100)
    parser.add_argument("--epoch", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    result = conditioning_check(args.run_dir, args.manifest, args.per_condition, args.epoch, args.seed)
    print(json.dumps(result, indent=2))
    print("conditioning check:", "PASS" if result["passed"] else "FAIL")


if __name__ == "__main__":
    main()
