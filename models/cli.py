"""``lethe models`` and ``lethe media``: list, verify and fetch files named in the manifests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from models.artifacts import ArtifactError


@click.group()
def models() -> None:
    """Face models (model manifest)."""


@models.command("list")
def models_list() -> None:
    """List every model with its kind, file, licence and (embedders) thresholds per false-match rate."""
    from models.registry import load_manifest

    for entry in load_manifest():
        source = f"package {entry.package}" if entry.package else entry.url
        click.echo(f"{entry.name:26} {entry.kind:9} {entry.file}")
        click.echo(f"{'':26} licence: {entry.licence}; from {source}")
        if entry.operating_points:
            points = ", ".join(f"{p.threshold} at FMR {p.target_fmr:g}" for p in entry.operating_points)
            click.echo(f"{'':26} thresholds: {points}")


def _each_model(names: tuple[str, ...]) -> list[str]:
    from models.registry import load_manifest

    return list(names) or [e.name for e in load_manifest()]


def _for_each(names: list[str], action: Callable[[str], Path], failure: str) -> None:
    """Run ``action`` on every name, print one line each, and exit 1 if any failed."""
    failed = 0
    for name in names:
        try:
            click.echo(f"ok       {name}: {action(name)}")
        except ArtifactError as exc:
            failed += 1
            click.echo(f"{failure:8} {name}: {exc}")
    if failed:
        raise SystemExit(1)


@models.command("verify")
@click.argument("names", nargs=-1)
@click.option("--mirror", type=click.Path(file_okay=False, path_type=Path), help="Model mirror folder.")
def models_verify(names: tuple[str, ...], mirror: Path | None) -> None:
    """Check that each model (default: all) is present with the manifest's SHA-256."""
    from models.registry import model_path

    _for_each(_each_model(names), lambda name: model_path(name, mirror=mirror), "MISSING")


@models.command("fetch")
@click.argument("names", nargs=-1)
@click.option(
    "--mirror", type=click.Path(file_okay=False, path_type=Path), help="Copy from this folder instead of downloading."
)
def models_fetch(names: tuple[str, ...], mirror: Path | None) -> None:
    """Copy each model (default: all) from the mirror, or download it; refuse a file whose hash differs."""
    from models.registry import fetch_model

    _for_each(_each_model(names), lambda name: fetch_model(name, mirror=mirror), "FAILED")


@click.group()
def media() -> None:
    """Sample photos and videos for the demo and tests (media manifest)."""


@media.command("list")
def media_list() -> None:
    from models.media import load_media

    for entry in load_media().values():
        click.echo(f"{entry.name:20} {entry.path}\n{'':20} {entry.what}")


@media.command("fetch")
@click.argument("names", nargs=-1)
@click.option("--mirror", type=click.Path(file_okay=False, path_type=Path), help="Data mirror holding testdata/.")
def media_fetch(names: tuple[str, ...], mirror: Path | None) -> None:
    """Copy each sample (default: all) from the mirror, or download it from its public URL."""
    from models.media import fetch_media, load_media

    _for_each(list(names or load_media()), lambda name: fetch_media(name, mirror=mirror), "FAILED")
