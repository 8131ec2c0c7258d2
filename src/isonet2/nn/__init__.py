"""Network architectures only: the U-Nets and the registry that names them.

Example:
    from isonet2.nn.registry import build_model, check_cube_size

    check_cube_size("unet-medium", 96)
    net = build_model("unet-medium")  # (b, 1, z, y, x) -> (b, 1, z, y, x)
"""
