"""``knee-t2 finetune``: train a model further on a dataset's corrected cases; register it as a new version.

DATASET is a folder of approved labels written by `knee-t2 export` (or
Slicer's "Accept & export"). Training runs in a child process
(`knee-t2 train DATASET --init MODEL`); the best epoch by validation Dice
becomes the next version of MODEL-finetuned in the model cache, listed by
`knee-t2 models list` and usable at once with `--model NAME` (newest
version) or `--model NAME@VERSION` (exactly that one). Ctrl-C stops the
training and registers nothing.
"""

from __future__ import annotations

import argparse

from ._common import ProgressPrinter


def register(subparsers) -> None:
    from ..finetune import FineTuneOptions

    defaults = FineTuneOptions()
    parser = subparsers.add_parser("finetune", help="fine-tune a model on corrected cases (new model version)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", metavar="DATASET", help="dataset folder with approved (corrected) labels")
    parser.add_argument("--model", default=None, metavar="BASE",
                        help="model to start from: name, NAME@VERSION or .safetensors path "
                        "(default: the default model)")
    parser.add_argument("--name", default=None,
                        help="name to register the result under (default: BASE-finetuned; versions count up)")
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help="epochs (default %(default)s)")
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate,
                        help="starting learning rate (default %(default)s)")
    parser.add_argument("--device", default=defaults.device, help="cpu (default), cuda, cuda:N, mps or auto")
    parser.add_argument("--threads", type=int, default=defaults.threads, help="CPU threads (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=None, help="crops per step (trainer default)")
    parser.add_argument("--crop-size", type=int, default=defaults.crop_size,
                        help="training crop in network pixels, clamped to the model's grid (default %(default)s)")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop before an epoch that would exceed this")
    parser.add_argument("--validation", default=None, metavar="DATASET",
                        help="dataset for choosing the best epoch (default: the last 10%% of DATASET's cases)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="random seed (default %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="show progress only, not the trainer's log")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from ..finetune import FineTuneOptions, count_labelled_cases, fine_tune
    from ..model_registry import default_model_name
    from ..model_versions import check_model_name

    base = args.model or default_model_name()
    count_labelled_cases(args.dataset, args.validation is not None)  # say what is wrong before announcing anything
    if args.name:
        check_model_name(args.name)
    options = FineTuneOptions(epochs=args.epochs, device=args.device, threads=args.threads,
                              learning_rate=args.learning_rate, batch_size=args.batch_size, crop_size=args.crop_size,
                              max_minutes=args.max_minutes, seed=args.seed, validation_dir=args.validation,
                              name=args.name)
    print("Fine-tuning %s on %s (%d epochs, %s) ..." % (base, args.dataset, args.epochs, args.device), flush=True)
    log = None if args.quiet else (lambda line: print("  " + line, flush=True))
    progress = ProgressPrinter() if args.quiet else None
    result = fine_tune(args.dataset, base, options=options, progress=progress, log=log)
    if progress is not None:
        progress.end()
    info = result.model
    print("Registered %s v%s: %s" % (info.name, info.version, info.description))
    print("  best epoch %d of %d, validation Dice %.4f; %.0f s" % (result.best_epoch, result.epochs_run,
                                                                  result.best_validation_dice, result.seconds))
    print("  weights: %s" % info.location)
    print("Use it with --model %s (newest version) or --model %s (this version)." % (info.name, result.reference))
    return 0

