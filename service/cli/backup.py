"""``lethe backup``, ``lethe restore`` and ``lethe audit deletions`` (the deletion log a restore re-applies)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from service.cli.common import actor_option, command_session, load_service_settings
from service.storage.private import write_new_private


@click.command()
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The archive to write (0600, refused if it exists). It holds the keys: keep it as you keep them.",
)
def backup(output: Path) -> None:
    """Back up the database (SQLite online backup, or pg_dump) and the key folder into one archive.

    Safe while the service runs. Without the key folder stored templates cannot
    be opened by anyone: a backup without it is useless, and one with it is as
    sensitive as the keys.
    """
    from service.backup import backup as make_backup
    from service.errors import OperatorError

    settings = load_service_settings()
    try:
        report = make_backup(settings.resolved_database_url, settings.resolved_key_dir, output)
    except OperatorError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"backup written to {report.path} (0600): {report.database} database at schema {report.schema}, "
        f"{report.audit_entries} audit entries, and the key folder"
    )


@click.command()
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--deletions",
    "deletion_logs",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A deletion log from lethe audit deletions, kept off the server (repeatable).",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@actor_option
def restore(archive: Path, deletion_logs: tuple[Path, ...], yes: bool, actor: str) -> None:
    """Replace this instance's database and keys with a backup's; stays deleted since stay deleted.

    Stop the service first. The deletions recorded in the database being
    replaced (when it is still readable) and in every --deletions log are
    re-applied before the command ends; then the schema is brought up to date.
    """
    from service.backup import restore as run_restore
    from service.errors import LetheError, OperatorError

    settings = load_service_settings()
    if not yes:
        click.confirm(
            f"Replace the database ({settings.resolved_database_url.split('@')[-1]}) and keys in "
            f"{settings.resolved_key_dir} with {archive}?",
            abort=True,
        )
    try:
        report = run_restore(
            archive,
            settings.resolved_database_url,
            settings.resolved_key_dir,
            deletion_logs=deletion_logs,
            actor=actor,
        )
    except OperatorError as exc:
        raise click.ClickException(str(exc)) from None
    except LetheError as exc:
        raise click.ClickException(f"{exc.code}: {exc.detail}") from None
    click.echo(
        f"restored a backup of {report.audit_entries} audit entries (schema {report.schema_before}, now up to date); "
        f"{report.deletions_seen} recorded deletion(s) checked, {report.reapplied} stay(s) deleted again"
    )


@click.command("deletions")
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The file to write (0600; refused if it exists). Keep it off the server, with the checkpoints.",
)
def audit_deletions(output: Path) -> None:
    """Export every deletion of a stay's face data the audit log records (stay ids, action, time: no names).

    lethe restore --deletions re-applies them, so a backup older than a
    deletion does not bring the face data back.
    """
    from service.backup import deletions, deletions_document

    with command_session() as (_db, _ring, session):
        found = deletions(session)
    try:
        write_new_private(output, json.dumps(deletions_document(found), indent=2) + "\n")
    except FileExistsError:
        raise click.ClickException(f"{output} exists; choose another file") from None
    click.echo(f"{len(found)} deletion(s) written to {output}")
