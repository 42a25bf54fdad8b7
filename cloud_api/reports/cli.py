"""``mektep report``: issue a school's monthly reports and write their files."""

from __future__ import annotations

from pathlib import Path

import typer

from cloud_api.cli import DB_HELP, load_settings
from cloud_api.db.engine import make_engine
from cloud_api.db.migrate import upgrade
from cloud_api.reports.formats import FORMATS
from cloud_api.reports.issue import COUNTRY, KINDS, issue_reports

__all__ = ["app", "build"]

app = typer.Typer(help="The monthly meal and attendance reports.", no_args_is_help=True, add_completion=False)


@app.command()
def build(
    school: str | None = typer.Option(None, "--school", help="School id."),
    region: str | None = typer.Option(None, "--region", help="Region id: the sums of its schools instead."),
    country: bool = typer.Option(False, "--country", help="The sums of every school instead (for the ministry)."),
    month: str = typer.Option(..., "--month", help="YYYY-MM, the month reported."),
    formats: list[str] = typer.Option(list(FORMATS), "--format", help="xlsx, csv or json (repeat for several)."),
    kinds: list[str] = typer.Option(list(KINDS), "--kind", help="meals or attendance (repeat for both)."),
    language: str = typer.Option("ru", "--lang", help="Language of the XLSX and CSV headings: kk, ru or en."),
    out: Path = typer.Option(Path("var/reports"), help="Folder the files are written to."),
    database_url: str | None = typer.Option(None, help=DB_HELP),
) -> None:
    """Issue the month's reports (a new version only if something changed) and write their files.

    Example:
        mektep report build --school demo-school --month 2026-10 --format xlsx --lang kk
        mektep report build --region almaty --month 2026-10
    """
    if any(f not in FORMATS for f in formats) or any(k not in KINDS for k in kinds):
        raise typer.BadParameter(f"formats are {', '.join(FORMATS)}; kinds are {', '.join(KINDS)}")
    if sum((school is not None, region is not None, country)) != 1:
        raise typer.BadParameter("give one of --school, --region or --country")
    subject = school or region or COUNTRY
    if region is not None:
        kinds = ["region"]
    elif country:
        kinds = ["country"]
    settings = load_settings(database_url)
    url = settings.database_url
    upgrade(url, settings.data_keys())
    engine = make_engine(url, settings.data_keys())
    try:
        for issued in issue_reports(engine, month, [(subject, kind) for kind in kinds], language=language):
            kind = issued.kind
            folder = out / subject / month / f"v{issued.version}"
            folder.mkdir(parents=True, exist_ok=True)
            wanted = {n: d for n, d in issued.files.items() if n.rsplit(".", 1)[-1] in formats}
            for name, data in wanted.items():
                (folder / name).write_bytes(data)
            (folder / f"{kind}.manifest.json").write_bytes(issued.manifest)
            (folder / f"{kind}.manifest.sig").write_text(issued.signature + "\n")
            state = "issued" if issued.new else "unchanged"
            silent = issued.missing_gateways
            missing = f"; gateways not heard from: {', '.join(silent)}" if silent else ""
            typer.echo(f"{kind} {month} v{issued.version} {state}: {folder}{missing}")
    finally:
        engine.dispose()
