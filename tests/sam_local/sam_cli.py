"""The real SAM CLI, driven as a user drives it: `sam build`, `sam local invoke`, `sam local start-lambda`.

Found, with everything it needs, by Toolchain.find; what is missing is an Unavailable with the
reason the tests skip (or fail, under SAM_LOCAL_REQUIRED=1).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import socket
import subprocess
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from pipeline.template import load_template

AWS_IMAGE = "public.ecr.aws/lambda/python:3.13-arm64"
STANDIN_IMAGE = "file-pipeline/standin-lambda-python:3.13-arm64"
STANDIN_SCRIPT = "scripts/standin-lambda-image/build.sh"
REGION = "us-east-1"
EMULATION_TIMEOUT_FACTOR = 6
"""Python runs about 30 times slower under qemu-user here: importing boto3 and making an S3 client
took 12 s, past check_ext's 10 s Timeout. An arm64 host needs no factor."""


T = TypeVar("T")


class Unavailable(Exception):
    """Something `sam local invoke` needs is missing here; the message says what and how to get it."""


def _run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, **kwargs)


@dataclass(frozen=True)
class Toolchain:
    sam: Path
    python313: Path
    invoke_image: str | None
    """None: AWS's own image, present locally; else the stand-in, passed with --invoke-image."""
    host_address: str
    """Where containers on Docker's bridge reach this host."""

    @classmethod
    def find(cls, root: Path) -> Toolchain:
        if shutil.which("docker") is None:
            raise Unavailable("Docker is not installed (no `docker` command)")
        daemon = _run(["docker", "version", "--format", "{{.Server.Version}}"], timeout=30)
        if daemon.returncode != 0:
            reason = (daemon.stderr.strip().splitlines() or ["no answer"])[-1]
            raise Unavailable(f"the Docker daemon does not answer: {reason}")
        sam, python313 = sam_and_python313(root)
        if _image_exists(AWS_IMAGE):
            invoke_image = None
        elif _image_exists(STANDIN_IMAGE):
            invoke_image = STANDIN_IMAGE
        else:
            raise Unavailable(f"no Lambda base image: neither AWS's {AWS_IMAGE} (`make local-invoke` pulls it) "
                              f"nor the stand-in for machines that cannot pull it (bash {STANDIN_SCRIPT})")
        return cls(sam=sam, python313=python313, invoke_image=invoke_image, host_address=_bridge_address())


def sam_and_python313(root: Path) -> tuple[Path, Path]:
    """The pinned SAM CLI, and the python3.13 that `sam build` needs on PATH."""
    sam = Path(os.environ.get("SAM_CLI") or root / ".venv-lint" / "bin" / "sam")
    if not sam.exists():
        raise Unavailable(f"no SAM CLI at {sam}: `make .venv-lint/.installed` (or `make lint`) installs "
                          "the pinned one there; SAM_CLI=path picks another")
    python313 = os.environ.get("PYTHON313") or _run(
        ["make", "--no-print-directory", "-s", "print-python313"], cwd=root).stdout.strip()
    if not python313:
        raise Unavailable("no python3.13, which `sam build` needs for the python3.13 functions "
                          "(pyenv install 3.13, or PYTHON313=path)")
    return sam, Path(python313)


def found_or_skip(find: Callable[[], T], required_variable: str, what: str) -> T:
    """find()'s answer; when something is missing, the test skips with the reason, or fails under
    required_variable=1 (CI, where everything must be there)."""
    try:
        return find()
    except Unavailable as missing:
        if os.environ.get(required_variable) == "1":
            pytest.fail(f"{what} cannot run: {missing}")
        pytest.skip(f"{what} cannot run: {missing}")


def _never_started(logs: str) -> bool:
    """SAM gave up on a container whose runtime never began the invocation (no START line)."""
    return "No response from invoke container" in logs and "START RequestId" not in logs


def _image_exists(image: str) -> bool:
    return _run(["docker", "image", "inspect", image], timeout=30).returncode == 0


def _bridge_address() -> str:
    """The host's address on Docker's default bridge (docker0): Lambda containers sit on that bridge
    (SAM's --docker-network host does not give them host networking)."""
    if os.environ.get("SAM_LOCAL_HOST_ADDRESS"):
        return os.environ["SAM_LOCAL_HOST_ADDRESS"]
    bridge = json.loads(_run(["docker", "network", "inspect", "bridge"], timeout=30).stdout or "[{}]")[0]
    for config in bridge.get("IPAM", {}).get("Config") or []:
        if config.get("Gateway"):
            return config["Gateway"]
    name = bridge.get("Options", {}).get("com.docker.network.bridge.name", "docker0")
    found = re.search(r"inet (\d+\.\d+\.\d+\.\d+)", _run(["ip", "-4", "-o", "addr", "show", "dev", name]).stdout)
    if not found:
        raise Unavailable(f"cannot tell this host's address on Docker's bridge {name}; set SAM_LOCAL_HOST_ADDRESS")
    return found.group(1)


@dataclass(frozen=True)
class Invocation:
    command: str
    payload: Any
    """What the function returned, or the error document Lambda gives for an unhandled exception."""
    logs: str
    seconds: float
    rerun: bool = False
    """SAM reported no response and no START line for a first attempt, so it ran once more: the
    first attempt may still have run (its output lost), which a test with side effects must allow."""

    @property
    def request_id(self) -> str:
        return re.search(r"START RequestId: (\S+)", self.logs).group(1)


class SamLocal:
    """`sam build` into .aws-sam/sam-local (not .aws-sam/build, which `sam deploy` would ship), and
    the functions run from there, each reaching AWS at the endpoint URL it is given."""

    def __init__(self, toolchain: Toolchain, root: Path):
        self.toolchain, self.root = toolchain, root
        self.build_dir = root / ".aws-sam" / "sam-local" / "build"
        self.template = self.build_dir / "template-local-endpoint.yaml"

    def environment(self) -> dict[str, str]:
        """SAM passes the caller's credentials and region into each container: these are fake, so
        even a stray call could not reach AWS with them."""
        env = {k: v for k, v in os.environ.items()
               if k not in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL")}
        env.update(SAM_CLI_TELEMETRY="0", AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                   AWS_DEFAULT_REGION=REGION, AWS_REGION=REGION)
        return env

    def build(self) -> None:
        env = self.environment()
        env["PATH"] = f"{self.toolchain.python313.parent}{os.pathsep}{env['PATH']}"
        built = _run([str(self.toolchain.sam), "build", "--build-dir", str(self.build_dir),
                      "--cache-dir", str(self.build_dir.parent / "cache")], cwd=self.root, env=env, timeout=900)
        if built.returncode != 0:
            raise AssertionError(f"sam build failed:\n{built.stdout[-4000:]}\n{built.stderr[-4000:]}")
        # /var/task is mounted read-only, so Python cannot cache what it compiles: every cold start
        # would compile Powertools again, which under qemu takes seconds (same .pyc as 3.13.x).
        _run([str(self.toolchain.python313), "-m", "compileall", "-q", "-j", "0", str(self.build_dir)], check=True)
        # `--env-vars` only sets variables the template declares: this copy, for the tests only,
        # declares AWS_ENDPOINT_URL (empty) for every function, and under emulation gives each
        # function EMULATION_TIMEOUT_FACTOR times its Timeout.
        template = load_template(self.build_dir / "template.yaml")
        template["Globals"]["Function"]["Environment"]["Variables"]["AWS_ENDPOINT_URL"] = ""
        if platform.machine().lower() not in ("aarch64", "arm64"):  # arm64 functions under emulation
            _scale_timeouts(template, EMULATION_TIMEOUT_FACTOR)
        self.template.write_text(yaml.safe_dump(template, sort_keys=False), encoding="utf-8")

    def _options(self, env_vars: Path) -> list[str]:
        image = ["--invoke-image", self.toolchain.invoke_image] if self.toolchain.invoke_image else []
        # The project's samconfig.toml, as `sam local invoke` in the project reads it (SAM looks
        # for it next to --template otherwise).
        return ["--template", str(self.template), "--config-file", str(self.root / "samconfig.toml"),
                "--env-vars", str(env_vars), "--skip-pull-image", *image]

    def endpoint_env_vars(self, endpoint_url: str, folder: Path) -> Path:
        path = folder / "env-vars.json"
        path.write_text(json.dumps({"Parameters": {"AWS_ENDPOINT_URL": endpoint_url}}), encoding="utf-8")
        return path

    def invoke(self, argv: list[str], env_vars: Path) -> Invocation:
        """Run a README line (`sam local invoke FUNCTION -e EVENT`) with this build and endpoint."""
        assert argv[:3] == ["sam", "local", "invoke"], argv
        command = [str(self.toolchain.sam), *argv[1:], *self._options(env_vars)]
        started = time.monotonic()
        done = _run(command, cwd=self.root, env=self.environment(), timeout=300)
        rerun = _never_started(done.stderr) and platform.machine().lower() not in ("aarch64", "arm64")
        if rerun:
            # Under qemu a container now and then gives SAM no answer (seen twice in about 80
            # invocations, each the first of a CI run), with no START line; its handler may or may
            # not have run. It runs once more, and says so (rerun), for the test to tell which.
            started = time.monotonic()
            done = _run(command, cwd=self.root, env=self.environment(), timeout=300)
        seconds = time.monotonic() - started
        if done.returncode != 0 or not done.stdout.strip():
            raise AssertionError(f"{' '.join(argv)} gave no result (exit {done.returncode}):\n{done.stderr[-4000:]}")
        return Invocation(command=" ".join(argv), payload=json.loads(done.stdout), logs=done.stderr, seconds=seconds,
                          rerun=rerun)

    @contextmanager
    def start_lambda(self, env_vars: Path, log: Path) -> Iterator[str]:
        """`sam local start-lambda` with warm containers; yields its URL, for boto3's Lambda client.

        It takes the parameter overrides samconfig.toml gives `sam local invoke` (FailureRate=0)."""
        overrides = tomllib.loads((self.root / "samconfig.toml").read_text(encoding="utf-8"))[
            "default"]["local_invoke"]["parameters"]["parameter_overrides"]
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        command = [str(self.toolchain.sam), "local", "start-lambda", "--host", "127.0.0.1", "--port", str(port),
                   "--warm-containers", "LAZY", "--parameter-overrides", overrides, *self._options(env_vars)]
        with log.open("wb") as output:
            server = subprocess.Popen(command, cwd=self.root, env=self.environment(), stdout=output,
                                      stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while not _accepts(port):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"sam local start-lambda did not start:\n{log.read_text()[-4000:]}")
                time.sleep(0.2)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()  # SIGTERM: it stops its warm containers (it ignores SIGINT in the background)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _scale_timeouts(template: dict[str, Any], factor: int) -> None:
    functions = [resource["Properties"] for resource in template["Resources"].values()
                 if resource["Type"] == "AWS::Serverless::Function"]
    for properties in [template["Globals"]["Function"], *functions]:
        if "Timeout" in properties:
            properties["Timeout"] = int(properties["Timeout"]) * factor


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0
