"""Write the random calibration nets of the latency model (``nascomp/hardware/calibration_nets/*.yaml``).

The latency model's calibration (nascomp/hardware/fit.py) fits two scales on nets measured whole: four zoo nets and
these frozen random points of each shipped search space, drawn here once (seed 2026, uniform over the space, kept
when their MACs at 3x224x224 and 1,000 classes lie in 0.25-3.0 G, so that measuring them stays cheap; the first four
of each space). The seed differs from bench_latency.py's (0), so the benchmark's points are held out.
tests/hardware/test_latency_fit.py checks that each file is still its space's point.

Usage:
    python benchmarks/latency_calibration_nets.py [--out nascomp/hardware/calibration_nets]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from nascomp.search.space.search_space import load_space, space_names
from nascomp.spec.write import write_spec

SEED = 2026
PER_SPACE = 4
GMACS = (0.25, 3.0)
SHAPE = (3, 224, 224)


def draw(name: str) -> list[dict]:
    """The calibration points of space ``name`` (deterministic)."""
    space = load_space(name)
    rng = np.random.RandomState(SEED)
    points: list[dict] = []
    while len(points) < PER_SPACE:
        point = space.random_point(rng)
        if point in points:
            continue
        try:
            gmacs = space.cost(point, input_shape=SHAPE, num_classes=1000).macs / 1e9
        except Exception:  # noqa: BLE001 -- an invalid point of the space is skipped, as the sampler skips it
            continue
        if GMACS[0] <= gmacs <= GMACS[1]:
            points.append(point)
    return points


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).parents[1] / "nascomp/hardware/calibration_nets"))
    args = parser.parse_args(argv)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    for name in space_names():
        space = load_space(name)
        for i, point in enumerate(draw(name)):
            macs = space.cost(point, input_shape=SHAPE, num_classes=1000).macs
            doc = (f"Latency calibration net {i} of the {name} search space: a uniform random point (seed {SEED}, "
                   f"MACs at 3x224x224 in {GMACS[0]}-{GMACS[1]} G; {macs / 1e9:.2f} GMACs), written by "
                   f"benchmarks/latency_calibration_nets.py. Point: {point}")
            mapping = space.export(point, name=f"{name}_cal{i}", doc=doc, input_shape=SHAPE, num_classes=1000)
            path = write_spec(mapping, Path(args.out) / f"{name}_cal{i}.yaml")
            print(path, f"{macs / 1e9:.2f} GMACs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
