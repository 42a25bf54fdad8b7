"""`mektep roster import`: the admin's report in their language, and the exit status a script checks."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from mektep.cli import app
from tests.cloud_api.school import CHILD, GOOD, HEADER, TEEN

runner = CliRunner(env={"COLUMNS": "160"})  # a wide terminal: the table keeps a message on one line


def test_import_reports_bad_rows_in_russian_and_stores_the_good_ones(tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    bad = ["student", CHILD[:11] + str((int(CHILD[11]) + 1) % 10), "Ахметов", "Дана", "2А"] + [""] * 6
    export.write_text("\n".join(";".join(row) for row in [HEADER, *GOOD, bad]), encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    args = ["roster", "import", str(export), "--school", "s1", "--lang", "ru", "--database-url", url]
    first = runner.invoke(app, args)
    assert first.exit_code == 1, first.output  # some rows were refused: a script must notice
    text = " ".join(first.output.split())
    assert "Добавлено: 4, изменено: 0, без изменений: 0; версия списка: 1." in text
    assert "неверная контрольная цифра ИИН" in text and "6" in text
    good_only = tmp_path / "good.csv"
    good_only.write_text("\n".join(";".join(row) for row in [HEADER, *GOOD]), encoding="utf-8")
    again = runner.invoke(app, ["roster", "import", str(good_only), "--school", "s1", "--database-url", url])
    assert again.exit_code == 0 and "без изменений: 4" in " ".join(again.output.split())


def test_a_file_that_is_not_a_roster_is_refused_whole(tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    export.write_text("name,age\nA,3\n")
    result = runner.invoke(
        app, ["roster", "import", str(export), "--school", "s1", "--database-url", f"sqlite:///{tmp_path / 'c.db'}"]
    )
    # said in the admin's language (Russian unless --lang), naming the columns to add
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "нет обязательных столбцов: role, iin, last_name, first_name" in text


def test_a_complete_export_names_how_many_left_and_holds_them_while_a_row_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cloud.db'}"

    def import_(name: str, rows: list[list[str]]) -> str:
        export = tmp_path / name
        export.write_text("\n".join(";".join(row) for row in [HEADER, *rows]), encoding="utf-8")
        args = ["roster", "import", str(export), "--school", "s1", "--lang", "kk", "--complete", "--database-url", url]
        return " ".join(runner.invoke(app, args).output.split())

    import_("all.csv", GOOD)
    bad = ["student", CHILD[:11] + str((int(CHILD[11]) + 1) % 10), "Ахметов", "Дана", "2А"] + [""] * 6
    stayed = [row for row in GOOD if row[1] != TEEN]
    assert "Ешкім белсенді емес деп белгіленбеді" in import_("broken.csv", [*stayed, bad])
    assert "Белсенді емес деп белгіленді (толық экспортта жоқ): 1." in import_("stayed.csv", stayed)
