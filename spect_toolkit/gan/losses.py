"""The paper's losses (Eqs. 1-5), with reconstruction as L1 (FastGAN's LPIPS weights cannot be fetched here)."""

from __future__ import annotations

from keras import ops


def hinge_real(logits, margin=1.0):
    """Eq. 2: ``-E[min(0, -margin + D(x))]``; FastGAN's code draws ``margin`` from U(0.8, 1)."""
    return ops.mean(ops.relu(margin - logits))


def hinge_fake(logits, margin=1.0):
    """Eq. 3: ``-E[min(0, -margin - D(G(z|y)))]``."""
    return ops.mean(ops.relu(margin + logits))


def generator_loss(fake_logits):
    """Eq. 1: ``-E[D(G(z|y))]``."""
    return -ops.mean(fake_logits)


def reconstruction(decoded_part, target_part, decoded_whole, target_whole):
    """Eq. 4 on real images only: the crop decoded from B1 against the same crop of the image, and the
    whole image decoded from B2 against the image (L1 each)."""
    return ops.mean(ops.abs(decoded_part - target_part)) + ops.mean(ops.abs(decoded_whole - target_whole))
