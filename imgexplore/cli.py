"""The ``imgexplore`` command line: the notebooks' tables without a notebook."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from .errors import ImgExploreError
from .output import FORMATS, render

SOURCE_HELP = (
    "an OCI layout folder or tar (oci:PATH[:TAG]), a docker save tarball "
    "(docker-archive:PATH[:TAG]), a saved manifest file (manifest:PATH), or a registry "
    "reference such as docker.io/library/centos:7"
)


def _open(args: argparse.Namespace):
    from .opener import open_image

    return open_image(
        args.source, args.platform, config=getattr(args, "config", None), blobs=getattr(args, "blobs", None)
    )


def cmd_inspect(args: argparse.Namespace) -> str:
    image = _open(args)
    if args.format == "json":
        import json

        from .output import records

        return json.dumps(
            {
                "source": image.name,
                "media_type": image.media_type,
                "digest": image.digest,
                "platform": str(image.platform) if image.platform else None,
                "config_digest": image.config_digest,
                "layers": records(image.layers_table()),
                "history": records(image.history_table()),
                "warnings": image.warnings,
            },
            indent=2,
        )
    return image.summary()


def cmd_layers(args: argparse.Namespace) -> str:
    image = _open(args)
    if args.diff_ids:
        image.compute_diff_ids()
    return render(image.layers_table(), args.format, wide=args.wide)


def cmd_history(args: argparse.Namespace) -> str:
    return render(_open(args).history_table(), args.format, wide=args.wide)


def cmd_platforms(args: argparse.Namespace) -> str:
    from .opener import list_platforms

    return render(list_platforms(args.source), args.format, wide=args.wide)


def _add_common(parser: argparse.ArgumentParser, *, platform: bool = True, fmt: bool = True) -> None:
    parser.add_argument("source", help=SOURCE_HELP)
    if platform:
        parser.add_argument(
            "--platform", help="os/arch[/variant] of a multi-platform image, e.g. linux/arm64/v8"
        )
        parser.add_argument(
            "--config", help="config file for a saved schema 2 / OCI manifest (manifest:PATH)"
        )
        parser.add_argument("--blobs", help="folder holding blobs for a saved manifest")
    if fmt:
        parser.add_argument(
            "--format", choices=FORMATS, default="table", help="output format (default: table)"
        )
        parser.add_argument(
            "--wide", action="store_true", help="full digests and commands in the table format"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imgexplore",
        description="Look inside container images: manifests, layers, history.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands: list[tuple[str, str, Callable, dict]] = [
        ("inspect", "a readable summary of an image", cmd_inspect, {}),
        (
            "layers",
            "one row per layer: digest, size, diff_id, chain id, empty, the step that made it",
            cmd_layers,
            {},
        ),
        ("history", "one row per build step, with the layer it made (or none)", cmd_history, {}),
        ("platforms", "the images of a multi-platform index", cmd_platforms, {"platform": False}),
    ]
    for name, help_text, func, options in commands:
        p = sub.add_parser(name, help=help_text, description=help_text)
        _add_common(p, **options)
        p.set_defaults(func=func)
        if name == "layers":
            p.add_argument(
                "--diff-ids",
                action="store_true",
                help="decompress the layers to compute (and check) diff_ids and chain ids",
            )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``imgexplore`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        text = args.func(args)
    except ImgExploreError as exc:
        print(f"imgexplore: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("imgexplore: interrupted", file=sys.stderr)
        return 130
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into head
        sys.stderr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
