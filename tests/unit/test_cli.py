"""Closed option values of the command line: typer refuses others and lists the allowed ones."""

from __future__ import annotations

from enum import StrEnum

import pytest
import typer
from typer.testing import CliRunner

from streamguard import cli
from streamguard.bench.runner import SCENARIOS
from streamguard.cli import DemoForgeryChoice, ImageFormatChoice, LogLevel, LrScheduleChoice, ScenarioChoice, app
from streamguard.demo.clip import DEMO_FORGERIES
from streamguard.train.loop import LR_SCHEDULES


def test_choices_match_the_sets_their_library_modules_accept() -> None:
    assert tuple(LrScheduleChoice) == LR_SCHEDULES
    assert tuple(DemoForgeryChoice) == DEMO_FORGERIES
    assert tuple(ScenarioChoice) == SCENARIOS


@pytest.mark.parametrize(
    ("args", "option", "allowed"),
    [
        (["train", "--out", "x.pt", "--lr-schedule", "linear"], "--lr-schedule", LrScheduleChoice),
        (["demo", "--forgery", "swap"], "--forgery", DemoForgeryChoice),
        (["run", "--log-level", "loud"], "--log-level", LogLevel),
        (["scan", "x.mp4", "--log-level", "loud"], "--log-level", LogLevel),
        (["bench", "--scenario", "decode", "--scenario", "gpu"], "--scenario", ScenarioChoice),
        (["forge", "--real", "r", "--out", "o", "--format", "gif"], "--format", ImageFormatChoice),
    ],
)
def test_an_unknown_option_value_is_refused_with_the_allowed_list(
    args: list[str], option: str, allowed: type[StrEnum]
) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert f"Invalid value for '{option}'" in result.output
    assert all(f"'{value}'" in result.output for value in allowed)  # rich may wrap the list across lines


def test_log_level_is_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[LogLevel] = []

    def setup_logging(level: LogLevel) -> None:
        seen.append(level)
        raise typer.Exit(0)  # stop before the daemon starts

    monkeypatch.setattr(cli, "_setup_logging", setup_logging)
    for value in ("INFO", "Debug", "warning"):
        assert CliRunner().invoke(app, ["run", "--log-level", value]).exit_code == 0
    assert seen == [LogLevel.info, LogLevel.debug, LogLevel.warning]
