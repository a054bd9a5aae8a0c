"""The ``hls-translate`` command: one entry point, one sub-command per job.

Each sub-command is the module of the same name in ``hls_translate.commands``, exposing
``add_arguments(parser)`` and ``run(args) -> int``.  Modules are imported only when their sub-command
runs (``hls-translate predict`` never imports torch), and they import heavy libraries inside ``run``.  Errors of the library (:class:`HLSTranslateError`) are
printed as one line (``error: ...``) with exit status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import List, Optional, Sequence, Tuple

from . import __version__


@dataclass(frozen=True)
class Command:
    """A sub-command: its name (also the name of its module in ``hls_translate.commands``) and its
    one-line help."""

    name: str
    help: str

    def load(self) -> ModuleType:
        """The module implementing the command (imported now, not before)."""
        return importlib.import_module(f"{__package__}.commands.{self.name.replace('-', '_')}")


COMMANDS: Tuple[Command, ...] = (
    Command("predict", "synthesize band(s) of a raster with an exported ONNX model (tiled, blended)"),
    Command("batch", "synthesize bands for every scene of folders, globs or STAC documents (resumable, on Dask)"),
    Command("info", "print the metadata embedded in an exported model"),
    Command("train", "train a model from a YAML config (one CPU/GPU, or DDP under torchrun)"),
    Command("fit-trees", "fit the tree prior (per-pixel gradient-boosted trees per target) on a config's training scenes"),
    Command("export", "export a training checkpoint to ONNX with embedded metadata (optionally with the tree prior)"),
    Command("evaluate", "evaluate a model on held-out scenes against a linear baseline"),
)


def build_parser(argv: Sequence[str]) -> Tuple[argparse.ArgumentParser, Optional[ModuleType]]:
    """The parser, and the module of the command ``argv`` names (None when it names none)."""
    parser = argparse.ArgumentParser(
        prog="hls-translate", description="Synthesize spectral bands of HLS / Sentinel-2 / Landsat imagery.")
    parser.add_argument("--version", action="version", version=f"hls_translate {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = None
    wanted = next((a for a in argv if not a.startswith("-")), None)
    for command in COMMANDS:
        command_parser = sub.add_parser(command.name, help=command.help, description=command.help)
        if command.name == wanted:  # only the chosen command's module is imported
            chosen = command.load()
            chosen.add_arguments(command_parser)
    return parser, chosen


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived (``timeout``, Slurm, systemd and Docker stop jobs with SIGTERM): unwinds
    like Ctrl-C, so every temporary file is removed on the way out."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum, frame):
    raise Terminated(signum)


def install_signal_handlers() -> None:
    """Make SIGTERM and SIGHUP unwind the command like SIGINT (main thread only; a no-op elsewhere)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _raise_terminated)


def main(argv: Optional[List[str]] = None) -> int:
    from .core.errors import HLSTranslateError

    as_program = argv is None  # the console script / python -m: this process is ours to stop
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, module = build_parser(argv)
    args = parser.parse_args(argv)
    if module is None:
        parser.print_help()
        return 1
    if as_program:
        install_signal_handlers()  # never inside a host application that called main(argv) (QGIS, tests)
    try:
        code = int(module.run(args) or 0)
        sys.stdout.flush()  # inside the try: a closed pipe is reported here, not at interpreter exit
        return code
    except HLSTranslateError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Terminated as exc:
        import signal

        print(f"stopped by {signal.Signals(exc.signum).name}; nothing unfinished was left behind", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
