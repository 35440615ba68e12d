"""``lethe keys`` (list, rotate, re-wrap, retire), ``lethe audit verify | checkpoint`` and ``lethe receipt verify``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from service.cli.backup import audit_deletions
from service.cli.common import actor_option, command_session, echo_json, load_service_settings, service_database
from service.storage.private import write_new_private


@click.group()
def keys() -> None:
    """The service's keys: list, rotate, re-wrap, retire (running workers reload by themselves)."""


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def keys_list(as_json: bool) -> None:
    """List keys (ids and dates, never secrets), newest first; KEKs with how many stays they wrap."""
    from service.keyring.rotation import list_keys

    settings = load_service_settings()
    with command_session() as (_db, _ring, session):
        found = list_keys(settings.resolved_key_dir, session)
    if as_json:
        echo_json([k.as_json() for k in found])
        return
    for k in found:
        wraps = "" if k.wraps is None else f"  wraps {k.wraps} stay(s)"
        flag = "current" if k.current else "older  "
        click.echo(f"{k.kind:<21} {k.key_id}  {flag}  {k.created.isoformat(timespec='seconds')}{wraps}")


@keys.command("rotate")
@click.argument("group", type=click.Choice(["hpke", "kek", "receipt", "staff", "all"]))
@click.option("--no-rewrap", is_flag=True, help="With kek: leave stored stay keys under the older KEK for now.")
@actor_option
def keys_rotate(group: str, no_rewrap: bool, actor: str) -> None:
    """Add a new key; a new KEK also re-wraps every stored stay key, a new staff key re-seals TOTP secrets."""
    from service.keyring.rotation import rewrap, rotate

    groups = ["hpke", "kek", "receipt", "staff"] if group == "all" else [group]
    with service_database() as (settings, database, _ring):
        with database.transaction() as session:
            for name in groups:
                for key in rotate(settings.resolved_key_dir, name, session=session, actor=actor):
                    click.echo(f"added {key.kind} key {key.key_id}")
        if "kek" in groups and not no_rewrap:
            click.echo(f"re-wrapped {rewrap(database, settings.resolved_key_dir, actor=actor)} stay key(s)")


@keys.command("rewrap")
@actor_option
def keys_rewrap(actor: str) -> None:
    """Re-wrap every stored stay key under the newest KEK (idempotent)."""
    from service.keyring.rotation import rewrap

    with service_database() as (settings, database, _ring):
        click.echo(f"re-wrapped {rewrap(database, settings.resolved_key_dir, actor=actor)} stay key(s)")


@keys.command("retire")
@click.argument("key_id")
@actor_option
def keys_retire(key_id: str, actor: str) -> None:
    """Delete an older key (refused for the newest of a kind or a KEK still in use)."""
    from service.keyring.rotation import retire

    settings = load_service_settings()
    with command_session() as (_db, _ring, session):
        retired = retire(settings.resolved_key_dir, key_id, session=session, actor=actor)
    click.echo(f"retired {retired.kind} key {retired.key_id}")


@click.group()
def audit() -> None:
    """The append-only audit log."""


audit.add_command(audit_deletions)


@audit.command("verify")
@click.option(
    "--checkpoint",
    "checkpoint_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A checkpoint kept off the server: an export, one checkpoint or a deletion receipt (repeatable).",
)
@click.option(
    "--public-key",
    "public_keys",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A receipt public key (PEM) besides the key folder's, e.g. one since retired (repeatable).",
)
def audit_verify(checkpoint_files: tuple[Path, ...], public_keys: tuple[Path, ...]) -> None:
    """Check the hash chain, and against signed checkpoints (given and stored): exit 1 naming what is wrong.

    Without --checkpoint only the stored checkpoints are used, which whoever
    rewrote the log may have removed too; a checkpoint kept elsewhere says
    whether the log was truncated or rewritten since it was signed.
    """
    from protocol import InvalidSignature
    from service.storage import checkpoints
    from service.storage.audit import verify_chain

    with command_session() as (_db, ring, session):
        keys = [*ring.receipt_public_keys(), *(_read_public_key(path) for path in public_keys)]
        try:
            anchors = [
                anchor
                for path in checkpoint_files
                for anchor in checkpoints.anchors_from(_read_json(path), keys, source=str(path))
            ]
            anchors += checkpoints.anchors_from(
                checkpoints.export_document(checkpoints.stored(session)),
                keys,
                source="stored checkpoint",
                skip_unknown_keys=True,  # signed by a receipt key since retired
            )
        except InvalidSignature as exc:
            raise click.ClickException(f"checkpoint not usable: {exc}") from None
        report = verify_chain(session, anchors)
    if report.ok:
        click.echo(f"audit log OK: {report.entries} entries, chain intact, {report.anchors} signed checkpoint(s) match")
        return
    where = f" at entry {report.first_broken}" if report.first_broken is not None else ""
    click.echo(f"audit log {report.finding.upper()}{where}: {report.problem}", err=True)
    raise SystemExit(1)


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{path} is not JSON: {exc}") from None


def _read_public_key(path: Path) -> object:
    from protocol import VerifyKey

    try:
        return VerifyKey.from_pem(path.read_bytes())
    except ValueError as exc:
        raise click.ClickException(f"{path} is not a receipt public key (PEM): {exc}") from None


@audit.group("checkpoint", invoke_without_command=True)
@click.pass_context
def audit_checkpoint(ctx: click.Context) -> None:
    """Sign the audit chain's length and head now and print the checkpoint (see also: export)."""
    if ctx.invoked_subcommand is not None:
        return
    from service.storage import checkpoints

    with command_session() as (_db, ring, session):
        _head, document = checkpoints.record(session, ring.receipt_key)
    echo_json(document)


@audit_checkpoint.command("export")
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The file to write (0600; refused if it exists). Keep it off the server.",
)
@click.option("--all", "every", is_flag=True, help="Every stored checkpoint, not only a fresh one.")
def audit_checkpoint_export(output: Path, every: bool) -> None:
    """Sign a fresh checkpoint and write it (with --all, every stored one) for safekeeping off the server."""
    from service.storage import checkpoints

    if output.exists():
        raise click.ClickException(f"{output} exists; choose another file")
    with command_session() as (_db, ring, session):
        checkpoints.record(session, ring.receipt_key)
        documents = checkpoints.stored(session, newest_only=not every)
    text = json.dumps(checkpoints.export_document(documents), indent=2) + "\n"
    try:
        write_new_private(output, text)
    except FileExistsError:
        raise click.ClickException(f"{output} exists; choose another file") from None
    newest = documents[-1]["claims"]
    click.echo(
        f"{len(documents)} checkpoint(s) written to {output}; "
        f"newest: {newest['entries']} entries, head {newest['head'][:16]}"
    )


@click.group()
def receipt() -> None:
    """Deletion receipts."""


@receipt.command("public-key")
@click.option("--key-id", help="An older receipt key still in the key folder (default: the current one).")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the PEM here (never over an existing file) instead of printing it.",
)
def receipt_public_key(key_id: str | None, output: Path | None) -> None:
    """Print the receipt public key (PEM) that ``lethe receipt verify`` and guests check receipts with."""
    from service import keyring

    settings = load_service_settings()
    ring = keyring.load_or_create(settings.resolved_key_dir)
    keys = {k.key_id.hex(): k for k in ring.receipt_public_keys()}
    chosen = ring.receipt_public_keys()[0] if key_id is None else keys.get(key_id)
    if chosen is None:
        raise click.UsageError(f"no receipt key {key_id} in the key folder; it has {', '.join(keys)}")
    pem = chosen.to_pem().decode("ascii")
    if output is None:
        click.echo(pem, nl=False)
        return
    if output.exists():
        raise click.UsageError(f"{output} exists; it is never written over")
    output.write_text(pem)
    click.echo(f"receipt public key {chosen.key_id.hex()} written to {output}")


@receipt.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--public-key",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The service's receipt public key (PEM, from `lethe receipt public-key` or GET /api/v1/keys).",
)
def receipt_verify(file: Path, public_key: Path) -> None:
    """Verify a deletion receipt offline; exit 0 if valid, 1 if not, 2 if the key file is not a public key."""
    from protocol import InvalidSignature, VerifyKey, verify_receipt

    key_bytes = public_key.read_bytes()
    try:
        key = VerifyKey.from_pem(key_bytes)
    except ValueError:
        raise click.BadParameter(_not_a_public_key(key_bytes), param_hint="--public-key") from None
    try:
        document = json.loads(file.read_text())
        claims = verify_receipt(document.get("receipt", document), key)
    except (ValueError, InvalidSignature, AttributeError) as exc:
        click.echo(f"INVALID receipt: {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(
        f"VALID deletion receipt {claims.receipt_id}: {claims.templates} template(s) and "
        f"{claims.data_keys} data key(s) deleted at {claims.deleted_at.isoformat()} (key {key.key_id.hex()})"
    )
    if claims.audit is not None:
        click.echo(f"  audit checkpoint: {claims.audit.entries} entries, head {claims.audit.head}")


def _not_a_public_key(data: bytes) -> str:
    """Why a --public-key file is no receipt public key, and where to get the right one."""
    fix = "export the public key with `lethe receipt public-key > receipt.pem` (or GET /api/v1/keys)"
    text = data.decode("utf-8", "replace")
    if "PRIVATE KEY" in text or '"secret"' in text:
        return f"this is a private key file, which must never leave the key folder; {fix}"
    if "PUBLIC KEY" in text:
        return f"this is not an Ed25519 receipt public key; {fix}"
    return f"this is not a PEM public key; {fix}"
