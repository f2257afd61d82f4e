"""``knee-t2 models``: list segmentation models, import weights offline, manage the cache.

  knee-t2 models list                    models, versions, where their weights are
  knee-t2 models import FILE --name N    install a weights file (.h5 or .safetensors) under a name
  knee-t2 models download NAME           fetch and convert a registry model now
  knee-t2 models cache-dir               print the cache folder
  knee-t2 models clear-cache             delete downloaded weights of listed models (fetched again when
                                         needed); fine-tuned and imported models stay
"""

from __future__ import annotations

import argparse

from ._common import print_progress


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "models", help="list, import or download segmentation models",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="models_action", metavar="ACTION")
    actions.add_parser("list", help="list models and whether their weights are here")
    importer = actions.add_parser("import", help="install a weights file obtained by other means")
    importer.add_argument("file", help="weights file: the published Keras .h5, or a .safetensors saved by knee-t2")
    importer.add_argument("--name", default=None,
                          help="model name: a registry name (the file is checked against it) or a new name")
    downloader = actions.add_parser("download", help="download and convert a registry model now")
    downloader.add_argument("name", nargs="?", default=None, help="registry model name (default: the default model)")
    actions.add_parser("cache-dir", help="print the folder where weights are cached")
    actions.add_parser("clear-cache", help="delete downloaded weights of listed models (fine-tuned and "
                                                          "imported models stay)")
    parser.set_defaults(handler=run, models_parser=parser)


def run(args) -> int:
    from .. import model_registry as registry

    action = getattr(args, "models_action", None)
    if action in (None, "list"):
        default = registry.default_model_name()
        for info in registry.list_models():
            mark = "*" if info.name == default else " "
            state = "ready" if info.available else "not downloaded"
            print("%s %-24s v%-10s %-15s %s" % (mark, info.name, info.version, state, info.location))
        print("(* = default model; cache: %s)" % registry.cache_dir(create=False))
        return 0
    if action == "import":
        path = registry.import_weights_file(args.file, args.name)
        print("Installed %s -> %s" % (args.file, path))
        return 0
    if action == "download":
        name = args.name or registry.default_model_name()
        path = registry.ensure_weights(name, progress=print_progress)
        print("\n%s is ready: %s" % (name, path))
        return 0
    if action == "cache-dir":
        print(registry.cache_dir(create=False))
        return 0
    if action == "clear-cache":
        print("Removed %d cached weights file(s) from %s" % (registry.clear_cache(), registry.cache_dir(create=False)))
        return 0
    args.models_parser.print_help()
    return 1
