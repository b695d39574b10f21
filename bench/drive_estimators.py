"""Which diversity estimator responds? H and the resulting temperature on real embeddings.

Two sequences of eight workspace winners, embedded with the shipped MiniLM model: a loop
(paraphrases of one idea, as an agreement loop produces) and a varied discussion (eight
different ideas). Each estimator runs inside the real EntropyDrive (exp law, α = 0.7, β = 4,
no smoothing) over each sequence; reported are the mean H and mean temperature over the
cycles after the window first fills, and the separation H(varied) − H(loop).
The first row reproduces the reference implementation's setting: soft-cluster entropy with
random initial centroids and τ = 0.5.

Run: python bench/drive_estimators.py
"""

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from _common import table, write

from gwa.drive import DriveSettings, EntropyDrive
from gwa.memory.embeddings import MiniLMEmbedder

LOOP = [
    "Turn the empty lot into a community garden.",
    "Let's make the empty lot a community garden.",
    "A community garden on the lot is the best idea.",
    "I agree, the lot should become a community garden.",
    "Yes, a community garden for the empty lot.",
    "The empty lot would be great as a community garden.",
    "We should build a community garden on the empty lot.",
    "Agreed: community garden on the lot.",
]
VARIED = [
    "Build affordable housing on the lot.",
    "Open a weekly farmers market there.",
    "Create a skate park for teenagers.",
    "Add a small public library kiosk.",
    "Plant an urban forest with benches.",
    "Use it as parking for the downtown shops.",
    "Host an outdoor cinema on summer nights.",
    "Install solar panels to power the town hall.",
]


class Precomputed:
    def __init__(self, texts: Sequence[str]) -> None:
        self.table = dict(zip(texts, MiniLMEmbedder.shared().embed(list(texts)), strict=True))

    def embed(self, texts: Sequence[str]) -> Any:
        return np.stack([self.table[t] for t in texts])


def run(settings: DriveSettings, texts: list[str], random_centroids: bool) -> tuple[float, float]:
    drive = EntropyDrive(settings, Precomputed(texts))
    if random_centroids:
        rng = np.random.default_rng(0)
        raw = rng.normal(size=(settings.clusters, 384)).astype(np.float32)
        drive.centroids = list(raw / np.linalg.norm(raw, axis=1, keepdims=True))
    hs, temps = [], []
    for i, text in enumerate(texts):
        reg = drive.update(i, text)
        if i + 1 >= settings.window and reg.info["h"] is not None:
            hs.append(reg.info["h"])
            temps.append(reg.temperature)
    return float(np.mean(hs)), float(np.mean(temps))


def main() -> None:
    base = DriveSettings(window=6, clusters=6, smoothing=1.0, alpha=0.7, beta=4.0)
    configs = [
        (
            "soft_cluster, random centroids, τ=0.5 (reference)",
            replace(base, estimator="soft_cluster", tau=0.5),
            True,
        ),
        (
            "soft_cluster, data centroids, τ=0.5",
            replace(base, estimator="soft_cluster", tau=0.5),
            False,
        ),
        (
            "soft_cluster, data centroids, τ=0.1",
            replace(base, estimator="soft_cluster", tau=0.1),
            False,
        ),
        ("assignments, K=6, W=6", replace(base, estimator="assignments"), False),
        ("spectral, W=6", replace(base, estimator="spectral"), False),
    ]
    rows, results = [], []
    for name, settings, random_init in configs:
        h_loop, t_loop = run(settings, LOOP, random_init)
        h_var, t_var = run(settings, VARIED, random_init)
        rows.append(
            [
                name,
                f"{h_loop:.3f}",
                f"{h_var:.3f}",
                f"{h_var - h_loop:+.3f}",
                f"{t_loop:.2f}",
                f"{t_var:.2f}",
            ]
        )
        results.append(
            {
                "estimator": name,
                "h_loop": h_loop,
                "h_varied": h_var,
                "separation": h_var - h_loop,
                "temperature_loop": t_loop,
                "temperature_varied": t_var,
            }
        )
    print(table(["estimator", "H loop", "H varied", "separation", "T loop", "T varied"], rows))
    path = write("drive_estimators", {"benchmark": "drive_estimators", "results": results})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
