"""Parameter counts of the conditional FastGAN's networks, for data sets A (6-value condition) and B (3).

python docs/scripts/gan_parameters.py
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from spect_toolkit.gan import make_config  # noqa: E402
from spect_toolkit.gan.networks import build_networks  # noqa: E402

print("| preset | data set | generator | discriminator | whole-image decoder | crop decoder |")
print("|---|---|---|---|---|---|")
for preset in ("paper", "improved"):
    for name, size in (("A", 6), ("B", 3)):
        nets = build_networks(make_config(preset), size)
        counts = [
            f"{nets[k].count_params():,}" for k in ("generator", "discriminator", "decoder_whole", "decoder_part")
        ]
        print(f"| {preset} | {name} | " + " | ".join(counts) + " |")
