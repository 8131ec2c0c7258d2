"""The console scripts' start-up: Ctrl-C while the command line is still being imported."""

import subprocess
import sys
import textwrap

import pytest

INTERRUPTED_IMPORT = textwrap.dedent(
    """
    import builtins, os, signal, sys
    real_import = builtins.__import__

    def interrupting_import(name, *args, **kwargs):
        if name == "isonet2.cli":  # Ctrl-C arrives while the command line is imported
            os.kill(os.getpid(), signal.SIGINT)
        return real_import(name, *args, **kwargs)

    builtins.__import__ = interrupting_import
    sys.argv = [sys.argv[1], "-h"]
    from isonet2.console import main
    main()
    """
)


@pytest.mark.parametrize("typed", ["isonet2", "isonet.py", "/usr/lib/x/__main__.py"])
def test_ctrl_c_during_start_up_is_one_line(typed: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", INTERRUPTED_IMPORT, typed], capture_output=True, text=True
    )
    expected = "isonet2" if typed == "isonet2" else "isonet.py"
    assert (done.returncode, done.stderr, done.stdout) == (130, f"{expected}: interrupted\n", "")
