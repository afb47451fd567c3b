"""``python -m course_utils {train,evaluate,predict} ...`` (also ``cnn-course``): the command line.

:func:`main` parses the arguments (:mod:`course_utils.command.options`), decides the run context
once and installs it, and calls the one function that does the work: the recipe's orchestrator
(:func:`~course_utils.transfer.run.run_transfer`) or a checkpoint's evaluation or predictions
(:mod:`course_utils.command.from_checkpoint`). Every expected failure (a missing folder, a photo
that cannot be read, a checkpoint that holds code or was made for other classes) ends with one
line, ``error: ...``, and exit status 1; ``--traceback`` shows Python's traceback instead.
Warnings are one line too (``warning: ...``).
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from course_utils.command.options import PROG, build_parser, config_from
from course_utils.context import RunContext

__all__ = ["EXPECTED_ERRORS", "main"]

EXPECTED_ERRORS = (ValueError, OSError, RuntimeError, pickle.UnpicklingError)
"""What bad input raises in the course (each with a message that says what to do); RanksDisagree
is a ValueError, a missing file an OSError, an untrusted checkpoint an UnpicklingError."""


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      file: Any = None, line: str | None = None) -> None:
    print(f"{PROG}: warning: {message}", file=file or sys.stderr, flush=True)


def _context(args: argparse.Namespace) -> RunContext:
    from course_utils.env import run_context, use_context

    return use_context(run_context(device=args.device, precision=args.precision, num_workers=args.workers,
                                   command=True))


def _default_out(args: argparse.Namespace, context: RunContext) -> Path:
    """A run folder named after what it depends on: another folder, model or recipe, another run."""
    from course_utils.storage.cache import run_folder

    data = str(Path(args.folder).expanduser().resolve()) if args.folder else args.data
    return run_folder(context.data_dir, "transfer", {"data": data, "recipe": dataclasses.asdict(config_from(args))})


def _train(args: argparse.Namespace, context: RunContext) -> int:
    from course_utils.transfer.run import run_transfer

    config = config_from(args)
    out = Path(args.out) if args.out else _default_out(args, context)
    run_transfer(args.folder, config, out, context=context, data=args.data, synthetic_size=args.synthetic_size,
                 synthetic_per_class=tuple(args.synthetic_per_class), resume=args.resume, compile=args.compile)
    return 0


def _evaluate(args: argparse.Namespace, context: RunContext) -> int:
    from course_utils.command.from_checkpoint import evaluate_checkpoint

    report = evaluate_checkpoint(args.checkpoint, args.folder, split=args.split, batch_size=args.batch_size,
                                 context=context)
    n = len(report.predictions.targets)
    print(f"{args.checkpoint} on {report.split} ({n} images, {len(report.class_names)} classes)")
    print(f"accuracy {report.accuracy:.4f}  top-5 {report.top5:.4f}")
    width = max(len(score.name) for score in report.per_class)
    print(f"{'class':<{width}}  images  correct  recall  precision  most often taken for")
    for score in report.per_class:
        print(f"{score.name:<{width}}  {score.total:>6}  {score.correct:>7}  {score.accuracy:>6.3f}  "
              f"{score.precision:>9.3f}  {score.taken_for or ''}")
    return 0


def _predict(args: argparse.Namespace, context: RunContext) -> int:
    from course_utils.command.from_checkpoint import predict_images

    failed = 0
    for result in predict_images(args.checkpoint, args.images, k=args.k, context=context):
        if result.ranked is None:
            failed += 1
            print(f"{PROG} predict: error: {result.image}: {result.error}", file=sys.stderr, flush=True)
            continue
        print(result.image)
        for place, (name, probability) in enumerate(result.ranked, start=1):
            print(f"  {place}. {name:<30} {probability:6.1%}")
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; 0 on success, 1 with one ``error:`` line for input that cannot work."""
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning
        try:
            context = _context(args)
            return {"train": _train, "evaluate": _evaluate, "predict": _predict}[args.command](args, context)
        except EXPECTED_ERRORS as error:
            if args.traceback:
                raise
            print(f"{PROG} {args.command}: error: {error}", file=sys.stderr, flush=True)
            return 1
