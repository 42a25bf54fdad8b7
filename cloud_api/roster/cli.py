"""``mektep roster``: bring a school's roster in from a National Education Database export."""

from __future__ import annotations

import getpass
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cloud_api import commands
from cloud_api.cli import DB_HELP, load_settings
from cloud_api.roster.nedb import RosterFileError
from shared.i18n import translator

__all__ = ["app", "import_"]

app = typer.Typer(help="The school roster: students, staff and guardians.", no_args_is_help=True, add_completion=False)


@app.command("import")
def import_(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="NEDB export, .csv or .xlsx."),
    school: str = typer.Option(..., "--school", help="School id the roster belongs to."),
    actor: str = typer.Option(getpass.getuser(), help="Who imports (kept in the audit journal)."),
    language: str = typer.Option("ru", "--lang", help="Language of the report: kk, ru or en."),
    complete: bool = typer.Option(
        False, "--complete", help="The file lists everyone of the school: students and staff it leaves out have left."
    ),
    database_url: str | None = typer.Option(None, help=DB_HELP),
) -> None:
    """Import students, staff and guardians; bad rows are listed (row, column, why), good rows stored.

    Importing the same file again changes nothing; every change is kept in the audit journal.

    With --complete the file is the school's whole roster: the students and staff it no longer lists
    are marked as gone (inactive), unless a row is refused.

    Example:
        mektep roster import nedb-export.xlsx --school demo-school --lang kk --complete
    """
    _ = translator(language)
    console = Console()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    settings = load_settings(database_url)
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(_("Importing the roster"), total=None)
        try:
            report = commands.import_roster_file(
                settings.database_url,
                file,
                school,
                actor=actor,
                on_parsed=lambda rows: progress.update(task, total=rows),
                progress=lambda n: progress.advance(task, n),
                complete=complete,
                keys=settings.data_keys(),
            )
        except RosterFileError as exc:  # the file as a whole is unusable: missing columns, not a roster
            columns = f": {', '.join(exc.columns)}" if exc.columns else ""
            console.print(f"[red]{file}: {_(exc.code)}{columns}[/red]", markup=True, highlight=False)
            raise typer.Exit(2) from None
    console.print(
        _(
            "Created {created}, updated {updated}, unchanged {unchanged}; roster version {version}.",
            created=report.created,
            updated=report.updated,
            unchanged=report.unchanged,
            version=report.version,
        )
    )
    if report.left:
        console.print(_("Marked as gone, no longer in the complete export: {left}.", left=report.left))
    if report.departures_held:
        console.print(_("Nobody was marked as gone: some rows were refused. Mend them and import the file again."))
    if report.problems:
        table = Table(title=_("Rows not imported"))
        for header in (_("Row"), _("Column"), _("Problem"), _("Value")):
            table.add_column(header)
        for p in report.problems:
            table.add_row(str(p.row), p.column, _(p.code), p.value)
        console.print(table)
        raise typer.Exit(1)
