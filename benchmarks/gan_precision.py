"""Does bfloat16 change what the GAN learns? The paper preset on data set A twice, float32 and bfloat16, with the
same seed, data and epochs; at every common checkpoint the epoch selection's Frechet distance to held-out slices
(mean and spread of three latent draws), and at the last epoch the conditioning check of gan_conditioning.py and
the generated left/right ratio (LR) medians per pattern beside the real ones.

    python benchmarks/gan_precision.py MANIFEST --out DIR [--epochs 40] [--checkpoint-every 10] [--seed 7]

MANIFEST: an ingested manifest with a holdout split (docs/scripts/reproduce_paper.py writes the paper's Table 1
subset as ingest/manifest_table1.parquet). Prints the load average with each run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gan_conditioning import conditioning_check  # noqa: E402

from spect_toolkit.evaluate import slice_measures  # noqa: E402
from spect_toolkit.evaluate.selection import select_epoch  # noqa: E402
from spect_toolkit.gan import generate, make_config, train  # noqa: E402
from spect_toolkit.manifest import load_manifest, load_slices, select_split  # noqa: E402
from spect_toolkit.vocabulary import PATTERNS  # noqa: E402


def lr_medians(images, levels, patterns) -> dict[str, float]:
    lr = slice_measures(images, levels)["lr"].to_numpy()
    return {p: round(float(np.nanmedian(lr[patterns == p])), 4) for p in PATTERNS if (patterns == p).any()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--checkpoint-every", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--precision", action="append", help="default: float32 and bfloat16")
    args = parser.parse_args()
    manifest = load_manifest(args.manifest)
    real = select_split(manifest, "train")
    real_images = load_slices(real).slices
    results = {}
    for precision in args.precision or ["float32", "bfloat16"]:
        load = os.getloadavg()[0]
        config = make_config(
            "paper",
            split="train",
            epochs=args.epochs,
            seed=args.seed,
            checkpoint_every=args.checkpoint_every,
            precision=precision,
        )
        start = time.perf_counter()
        run = train(args.manifest, args.out / f"run_{precision}", config, show_progress=True)
        minutes = (time.perf_counter() - start) / 60
        selection = select_epoch(run.run_dir, manifest, seed=args.seed)
        check = conditioning_check(run.run_dir, real, epoch=run.epochs_done, seed=args.seed)
        samples = generate(run.run_dir, like=real, seed=args.seed, epoch=run.epochs_done)
        results[precision] = {
            "minutes": round(minutes, 1),
            "load_before": round(load, 2),
            "load_after": round(os.getloadavg()[0], 2),
            "frechet": selection.raw,
            "spread": selection.spread,
            "conditioning": check,
            "lr_generated": lr_medians(samples.images, samples.level, samples.pattern),
        }
        print(json.dumps({precision: results[precision]}, indent=2), flush=True)
    results["lr_real"] = lr_medians(real_images, real["level"].to_numpy(), real["pattern"].to_numpy())
    (args.out / "precision.json").write_text(json.dumps(results, indent=2))
    names = [p for p in results if p != "lr_real"]
    print("\n| epoch | " + " | ".join(f"Frechet, {p} (spread)" for p in names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for epoch in results[names[0]]["frechet"]:
        cells = [f"{results[p]['frechet'][epoch]:.2f} ({results[p]['spread'][epoch]:.2f})" for p in names]
        print(f"| {epoch} | " + " | ".join(cells) + " |")
    for p in names:
        c = results[p]["conditioning"]
        print(
            f"{p}: {results[p]['minutes']} min (load {results[p]['load_before']}-{results[p]['load_after']}); "
            f"conditioning {'PASS' if c['passed'] else 'FAIL'} (level accuracy {c['level_accuracy']}, "
            f"unilateral/real asymmetry {c['unilateral_vs_real_median_ratio']}, "
            f"P {c['mann_whitney_p_unilateral_gt_normal']}); "
            f"LR medians {results[p]['lr_generated']} (real {results['lr_real']})"
        )


if __name__ == "__main__":
    main()
