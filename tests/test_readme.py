"""The README's and the tutorial's command lines parse: every flag they spell exists and every
value validates.

The walk-through's and the tutorial's lines are what people copy; a renamed flag or a changed
choice must fail here, not on a user's machine. Parsing only: nothing runs and no file is read.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from isonet2.config import COMMANDS
from isonet2.config.argv import parse_command_line
from isonet2.errors import UsageError
from isonet2.program import PROG_NAMES

README = Path(__file__).resolve().parents[1] / "README.md"


def shell_blocks(text: str) -> list[str]:
    """The bodies of the ```bash blocks, continuation lines joined."""
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL)
    return [block.replace("\\\n", " ") for block in blocks]


def command_lines(text: str) -> list[list[str]]:
    """Each `isonet.py ...` command of the shell blocks as words, without the program name:
    comments, redirections and a trailing `&` dropped, `&&` chains split."""
    found = []
    for block in shell_blocks(text):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            chain: list[str] = []
            target_next = False  # the word after a bare > or >> is the file it writes
            for word in [*words, "&&"]:
                if word in ("&&", "&", ";"):
                    if chain and chain[0] in PROG_NAMES:
                        found.append(chain[1:])
                    chain = []
                elif target_next or word.startswith((">", "2>")):
                    target_next = word in (">", ">>")
                else:
                    chain.append(word)
    return found


def test_the_extraction_finds_commands_and_drops_shell_words() -> None:
    text = (
        "```bash\nisonet.py refine a.star -o x --epochs 2   # note\n"
        "pip install -e . && isonet.py demo >> log.txt 2>&1 &\n"
        "isonet.py predict a.star m.pt \\\n    --tta\n```\n"
        "```\nisonet.py not_shell\n```\n"
    )
    assert command_lines(text) == [
        ["refine", "a.star", "-o", "x", "--epochs", "2"],
        ["demo"],
        ["predict", "a.star", "m.pt", "--tta"],
    ]


def readme_commands() -> list[list[str]]:
    if not README.is_file():  # an installed package without its source tree
        return []
    return command_lines(README.read_text(encoding="utf-8"))


@pytest.mark.skipif(not README.is_file(), reason="README.md is not beside the tests")
def test_the_readme_shows_commands_of_every_step() -> None:
    names = {words[0] for words in readme_commands() if words}
    assert {"prepare_star", "deconv", "make_mask", "refine", "denoise", "predict"} <= names
    assert {"simulate", "evaluate", "demo", "gui"} <= names


def assert_parses(words: list[str]) -> None:
    name = words[0].replace("-", "_")
    assert name in COMMANDS, f"unknown command {words[0]}"
    try:
        parse_command_line(COMMANDS[name], words[1:])
    except UsageError as error:
        pytest.fail(f"isonet.py {' '.join(words)}: {error}")


@pytest.mark.parametrize("words", readme_commands(), ids=lambda words: " ".join(words)[:60])
def test_every_readme_command_line_parses(words: list[str]) -> None:
    assert_parses(words)


# The user's tutorial (../shared/seed beside the checkout, as CI has it): its concrete lines as
# written; its template lines (`--pixelsize <value>`) with each placeholder filled in, so that
# the flag spellings they teach (--outputstar, --numbersubtomos, --noisestartiter, ...) parse.
TUTORIAL = Path(__file__).resolve().parents[2] / "shared" / "seed" / "isonet2_tutorial.md"
PLACEHOLDERS = {
    "<value>": "2",
    "<val>": "0.2",
    "<number>": "5",
    "<ids>": "0",
    "<folder>": "tomograms",
    "<tomograms.star>": "tomograms.star",
    "<subtomo.star>": "tomograms.star",
    "<output_folder>": "out",
    "<results_folder>": "results",
    "<model_file.h5>": "results/network_isonet2-n2n_unet-medium_96_full.pt",
    "<isonet2-n2n/isonet2>": "isonet2",
    "<network type>": "unet-medium",
    "<column name>": "rlnDeconvTomoName",
}
LISTS = {"--noiselevel": "0.1,0.2", "--noisestartiter": "1,3"}  # <list> after these flags


def fill_placeholders(line: str) -> str:
    """`--noiselevel <list> --arch <network type>` -> `--noiselevel 0.1,0.2 --arch unet-medium`;
    KeyError for a placeholder this table does not know."""
    for flag, value in LISTS.items():
        line = line.replace(f"{flag} <list>", f"{flag} {value}")
    return re.sub(r"<[^>]+>", lambda match: PLACEHOLDERS[match.group(0)], line)


def tutorial_lines() -> list[str]:
    """The tutorial's lines that run isonet.py (none where the tutorial is not there)."""
    if not TUTORIAL.is_file():
        return []
    lines = TUTORIAL.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.lstrip().startswith("isonet.py ")]


def tutorial_commands() -> list[list[str]]:
    filled = [fill_placeholders(line) for line in tutorial_lines()]
    return command_lines("```bash\n" + "\n".join(filled) + "\n```")


@pytest.mark.skipif(not TUTORIAL.is_file(), reason="../shared/seed is not beside the checkout")
def test_the_tutorial_yields_all_its_command_lines() -> None:
    assert len(tutorial_commands()) == len(tutorial_lines()) > 20


@pytest.mark.parametrize("words", tutorial_commands(), ids=lambda words: " ".join(words)[:60])
def test_every_tutorial_command_line_parses(words: list[str]) -> None:
    assert_parses(words)
