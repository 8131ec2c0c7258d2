"""Config model of `demo`."""

from __future__ import annotations

from isonet2.config.base import MAX_SEED, CommandConfig, param


class DemoConfig(CommandConfig):
    """Run the whole method on a built-in simulated dataset and show before/after numbers.

    Simulates a small crowded-cell project with known ground truth, trains briefly (refine,
    isonet2-n2n with network CTF correction and the README's short-run recipe at batch 2),
    predicts, scores raw and corrected maps against the ground truth, and prints a table plus
    the paths of slice pictures. The run is sized for the machine: about 5 minutes on a 2-core
    CPU (small volumes, unet-small, 32³ cubes); larger volumes, unet-medium and 64³ cubes on a
    GPU.

    Example:
        isonet.py demo
        isonet.py demo -o isonet_demo --gpuID 0 --epochs 20
    """

    command = "demo"

    output_dir: str = param(
        "isonet_demo", "folder for everything the demo writes", short="o", aliases=("outputdir",)
    )
    gpuID: str | None = param(  # the tutorial's spelling
        None, 'GPU to use, e.g. "0"; the CPU when none exists', aliases=("gpu_id", "gpus")
    )
    epochs: int | None = param(
        None, "training epochs; None = sized for the machine (8 on CPU, 20 on a GPU)", ge=1
    )
    seed: int = param(0, "random seed of the simulation and the training", ge=0, le=MAX_SEED)
