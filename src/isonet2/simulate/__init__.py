"""Synthetic cryo-ET data with a known answer: phantom -> tilt series -> even/odd WBP tomograms.

Example:
    from isonet2.simulate import simulate_tomogram

    result = simulate_tomogram((128, 256, 256), preset="cell", seed=0)
    result.ground_truth, result.even, result.odd          # (z, y, x) float32 each

Modules: `presets` (named scenes and acquisition defaults), `phantom` (the lamella's density,
built by `scene`, `membranes`, `macromolecules` and `splat`), `projector` (tilt geometry about
Y), `acquisition` (CTF, SNR and the dose split), `wbp` (weighted back-projection) and
`tomogram` (`simulate_tomogram`, the whole chain).
"""

from isonet2.simulate.presets import PRESETS, PhantomParams, Preset, get_preset
from isonet2.simulate.tomogram import AcquisitionSettings, SimulatedTomogram, simulate_tomogram

__all__ = [
    "PRESETS",
    "AcquisitionSettings",
    "PhantomParams",
    "Preset",
    "SimulatedTomogram",
    "get_preset",
    "simulate_tomogram",
]
