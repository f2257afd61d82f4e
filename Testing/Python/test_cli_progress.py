"""Command progress: one overwritten line on a terminal, one line per stage in a log file."""

from __future__ import annotations

import io

from KneeCartilageT2Lib.commands._common import ProgressPrinter


class Terminal(io.StringIO):
    def isatty(self):
        return True


def _report(printer):
    for fraction in (0.01, 0.02, 0.03):
        printer(fraction, "Fitting T2 (mono)")
    for done in (2, 4, 6):
        printer(0.3 + done / 100, "Segmenting slices (%d/24)" % done)
    printer(1.0, "Done")
    printer.end()


def test_a_log_file_gets_one_line_per_stage_not_one_per_report():
    log = io.StringIO()
    _report(ProgressPrinter("baseline", stream=log))
    assert log.getvalue().splitlines() == ["[baseline   1%] Fitting T2 (mono)", "[baseline  32%] Segmenting slices (2/24)",
                                           "[baseline 100%] Done"]
    assert "\r" not in log.getvalue()


def test_a_terminal_gets_one_line_overwritten_and_closed_at_the_end():
    terminal = Terminal()
    _report(ProgressPrinter(stream=terminal))
    text = terminal.getvalue()
    assert text.count("\r") == 7 and text.endswith("\n") and text.count("\n") == 1
    assert "[ 36%] Segmenting slices (6/24)" in text


def test_ctrl_c_while_the_commands_are_imported_ends_without_a_traceback(monkeypatch, capsys):
    from KneeCartilageT2Lib import cli

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main(["demo"]) == 130
    assert capsys.readouterr().err == "knee-t2: interrupted\n"
