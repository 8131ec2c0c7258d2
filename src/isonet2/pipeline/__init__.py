"""One module per user command: `run(cfg) -> result` does the work, writes files and the star."""
