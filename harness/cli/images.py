"""Image source options of `run` (`--images --image-registry ... --pull-policy`), and the
`images push` command that shares our own builds under the official naming rule.
"""

from __future__ import annotations

import argparse
import fnmatch

from harness.cli.errors import UserError, eprint
from harness.images.image_names import (
    IMAGES_MODES,
    LAYOUTS,
    PULL_POLICIES,
    ImageOptions,
    ImageOptionsError,
    parse_size,
    prebuilt_name,
)


def add_naming_arguments(
    parser: argparse.ArgumentParser, registry_help: str, *aliases: str
) -> argparse._ArgumentGroup:
    group = parser.add_argument_group("prebuilt images")
    group.add_argument("--image-registry", *aliases, dest="image_registry", help=registry_help)
    group.add_argument(
        "--image-namespace", help="namespace of the images (default: swebench; epoch-research "
        "with --image-layout epoch)",
    )
    group.add_argument("--image-tag", default="latest", help="tag of the images (default latest)")
    group.add_argument(
        "--image-arch", choices=("x86_64", "arm64"), help="architecture in the image names "
        "(default: the host's)",
    )
    group.add_argument(
        "--image-layout", default="official",
        help=f"naming rule: {', '.join(LAYOUTS)} (default official: "
        "{namespace}/sweb.eval.{arch}.{official_id}:{tag}), or a template with the "
        "placeholders {registry} {namespace} {arch} {id} {official_id} {instance_id} {tag}",
    )
    return group


def add_image_arguments(parser: argparse.ArgumentParser) -> None:
    """The image source options of `run`."""
    parser.add_argument(
        "--images", choices=IMAGES_MODES, default="auto",
        help="auto (default): pull each task's prebuilt image when the registry has it, build "
        "it otherwise; prebuilt: pulled images only; build: always build here",
    )
    group = add_naming_arguments(
        parser, "registry host[:port] (default Docker Hub; ghcr.io with --image-layout epoch)"
    )
    group.add_argument(
        "--pull-policy", choices=PULL_POLICIES, default="missing",
        help="missing (default): pull only images not present; always: ask the registry for "
        "each; never: use only images already present",
    )
    group.add_argument(
        "--max-concurrent-pulls", type=int, default=2, help="pulls at once (default 2)",
    )
    group.add_argument(
        "--max-image-disk",
        help="bound on the disk pulled images take, e.g. 200G: the oldest ones this run does "
        "not use are removed past it (default: unbounded)",
    )


def image_options_from_args(args: argparse.Namespace) -> ImageOptions:
    """Raises UserError (one line) for options that cannot name an image. A namespace made by
    a program that knows nothing of these options means `build`, as before they existed."""
    try:
        limit = getattr(args, "max_image_disk", None)
        return ImageOptions(
            mode=getattr(args, "images", "build"),
            registry=getattr(args, "image_registry", None),
            namespace=getattr(args, "image_namespace", None),
            tag=getattr(args, "image_tag", "latest"),
            arch=getattr(args, "image_arch", None) or "",
            layout=getattr(args, "image_layout", "official"),
            pull_policy=getattr(args, "pull_policy", "missing"),
            max_concurrent_pulls=getattr(args, "max_concurrent_pulls", 2),
            max_image_disk=parse_size(limit) if limit else None,
        )
    except ImageOptionsError as error:
        raise UserError(str(error)) from None


# --- images push ----------------------------------------------------------------------------


def register(commands: argparse._SubParsersAction) -> None:
    images = commands.add_parser("images", help="share the images this harness built")
    sub = images.add_subparsers(dest="images_command", required=True)
    push = sub.add_parser(
        "push", help="tag and push our instance images under the official naming rule",
    )
    push.add_argument(
        "instances", nargs="*", help="instance ids or globs to push (default: every one built)",
    )
    add_naming_arguments(push, "registry host[:port] to push to (required)", "--registry")
    push.set_defaults(handler=command_push)


def newest_instance_images(client, patterns: list[str]) -> dict[str, str]:
    """instance id -> the newest of our instance images for it, for ids matching `patterns`."""
    chosen: dict[str, tuple[str, str]] = {}
    for image in client.images.list(filters={"label": "harness.tier=instance"}):
        instance = image.labels.get("harness.instance", "")
        if not instance or not image.tags:
            continue
        if patterns and not any(fnmatch.fnmatchcase(instance, p) for p in patterns):
            continue
        created = image.attrs.get("Created", "")
        if instance not in chosen or created > chosen[instance][0]:
            ours = [tag for tag in image.tags if tag.startswith("harness-instance:")]
            chosen[instance] = (created, (ours or image.tags)[0])
    return {instance: tag for instance, (_, tag) in sorted(chosen.items())}


def command_push(args: argparse.Namespace) -> int:
    import docker

    from harness.images.registry import RegistryError, RegistryUnreachable, push_image

    if not args.image_registry:
        raise UserError("images push needs --image-registry HOST[:PORT]")
    options = image_options_from_args(args)
    try:
        client = docker.from_env()
        client.ping()
    except Exception as error:
        raise UserError(f"cannot reach the Docker daemon ({error}); start Docker") from None
    found = newest_instance_images(client, list(args.instances))
    if not found:
        raise UserError("no instance image built here matches; `run` builds them")
    failures = 0
    for instance, local in found.items():
        reference = prebuilt_name(instance, options)
        try:
            digest = push_image(client, local, reference, log=eprint)
        except RegistryUnreachable as error:
            raise UserError(f"cannot push: nothing answers at {error.registry}") from None
        except RegistryError as error:
            eprint(f"{instance}: {error}")
            failures += 1
            continue
        print(f"{local} -> {reference} {digest}")
    if failures == len(found):
        raise UserError(f"nothing was pushed to {options.effective_registry}")
    return 1 if failures else 0
