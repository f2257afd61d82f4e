"""``knee-t2 train``: train or fine-tune the cartilage U-Net on a dataset folder.

DATASET is a folder written by `knee-t2 phantom --cases N` or by the
correction export (nnU-Net v2 layout with a case index). The best epoch (by
validation Dice) is written to MODEL (.safetensors, self-describing: it can
be used directly with `knee-t2 segment --model MODEL`) together with
MODEL.json, its model-list entry. Training state is saved after every epoch
in MODEL.state.safetensors; running the same command again resumes from it
(use --restart to start over). --init MODEL fine-tunes an existing model of
this project (its architecture and preprocessing are kept).
"""

from __future__ import annotations

import argparse
import sys

from ._common import check_output_file


def register(subparsers) -> None:
    from ..training import TrainingConfig

    defaults = TrainingConfig()
    parser = subparsers.add_parser("train", help="train or fine-tune the cartilage U-Net on a dataset",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", metavar="DATASET", help="training dataset folder")
    parser.add_argument("-o", "--output", required=True, metavar="MODEL.safetensors", help="model file to write")
    parser.add_argument("--init", default=None, metavar="MODEL", help="start from this model (name or file): fine-tuning")
    parser.add_argument("--validation", default=None, metavar="DATASET",
                        help="validation dataset (default: the last 10%% of DATASET's cases)")
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help="epochs (default %(default)s)")
    parser.add_argument("--device", default=defaults.device, help="cpu (default), cuda, cuda:N, mps or auto")
    parser.add_argument("--threads", type=int, default=defaults.threads, help="CPU threads (default %(default)s)")
    parser.add_argument("--levels", type=int, default=defaults.levels, help="U-Net levels (default %(default)s)")
    parser.add_argument("--base-filters", type=int, default=defaults.base_filters,
                        help="filters at the top level (default %(default)s)")
    parser.add_argument("--no-batch-norm", action="store_true", help="U-Net without batch normalisation")
    parser.add_argument("--batch-norm-statistics", choices=("auto", "frozen", "trained"), default="auto",
                        help="batch-norm running statistics: frozen keeps the starting model's; auto (default) "
                             "freezes them when fine-tuning (--init) and trains them otherwise")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="crops per step (default %(default)s)")
    parser.add_argument("--crop-size", type=int, default=defaults.crop_size, help="training crop in pixels (default %(default)s)")
    parser.add_argument("--pixel-spacing", type=float, default=defaults.pixel_spacing_mm,
                        help="network pixel size in mm (default %(default)s)")
    parser.add_argument("--network-size", type=int, default=defaults.network_size,
                        help="network grid in pixels at inference (default %(default)s)")
    parser.add_argument("--slice-dice-weight", type=float, default=defaults.slice_dice_weight, metavar="W",
                        help="share of the loss given to the mean Dice of each crop holding cartilage, so thin "
                             "edge slices count as much as central ones (0 = batch Dice only; default %(default)s)")
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate, help="Adam learning rate")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop before an epoch that would exceed this")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--name", default=defaults.name, help="model name written into its metadata")
    parser.add_argument("--version", default=defaults.version, help="model version written into its metadata")
    parser.add_argument("--description", default="", help="model description for its metadata")
    parser.add_argument("--training-data", default="", help="description of the training data for the metadata")
    parser.add_argument("--float32", action="store_true", help="store float32 weights (default float16)")
    parser.add_argument("--restart", action="store_true", help="ignore a saved training state and start over")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from ..training import TrainingConfig, train_model

    check_output_file(args.output, "model.safetensors")
    config = TrainingConfig(
        epochs=args.epochs, levels=args.levels, base_filters=args.base_filters, batch_norm=not args.no_batch_norm,
        batch_size=args.batch_size, crop_size=args.crop_size, learning_rate=args.learning_rate,
        slice_dice_weight=args.slice_dice_weight,
        pixel_spacing_mm=args.pixel_spacing, network_size=args.network_size, seed=args.seed, threads=args.threads,
        device=args.device, max_minutes=args.max_minutes, half_precision_weights=not args.float32,
        name=args.name, version=args.version, description=args.description, training_data=args.training_data,
        freeze_batch_norm={"auto": None, "frozen": True, "trained": False}[args.batch_norm_statistics],
    )
    result = train_model(args.dataset, args.output, config, init=args.init, validation_dir=args.validation,
                         resume=not args.restart, log=lambda line: print(line, flush=True))
    if result.improved_on_init is False:
        print("Fine-tuning did not beat the starting model (validation Dice %.4f); the file holds its weights."
              % result.init_validation_dice)
    print("Best epoch %d, validation Dice %.4f; wrote %s and %s"
          % (result.best_epoch, result.best_validation_dice, result.model_path, result.metadata_path))
    sys.stdout.flush()
    return 0
