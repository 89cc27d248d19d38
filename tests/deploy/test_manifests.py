"""Kubernetes manifests, the compose file, Grafana provisioning and the systemd unit: valid against their
schemas, and every file, port, name and environment variable they reference exists."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, cast

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from streamguard.api.server import build_app
from streamguard.config import load_config
from streamguard.ops.dashboard import UID
from streamguard.ops.sharding import REPLICA_INDEX_ENV, REPLICAS_ENV, parse_index
from tests.deploy.conftest import DEPLOY, REPO, VENV_BIN

K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "compose" / "docker-compose.yml"
VARIANTS = ["cpu", "gpu"]
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}  # no schema offline: checked structurally below
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}")


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kustomize(directory: Path) -> list[dict[str, Any]]:
    """The resources a kustomization lists (recursively), every listed path checked to exist."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    found = []
    for resource in kustomization["resources"]:
        path = (directory / resource).resolve()
        assert path.exists(), f"{directory}/kustomization.yaml lists missing {resource}"
        found += kustomize(path) if path.is_dir() else documents(path)
    return found


def by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    kinds = [doc["kind"] for doc in docs]
    assert len(kinds) == len(set(kinds)), kinds
    return {doc["kind"]: doc for doc in docs}


def strings(data: Any) -> list[str]:
    """Every string value in parsed YAML (comments are not values)."""
    if isinstance(data, dict):
        return [s for value in data.values() for s in strings(value)]
    if isinstance(data, list):
        return [s for value in data for s in strings(value)]
    return [data] if isinstance(data, str) else []


def env_refs(text: str, *, required_only: bool) -> set[str]:
    """The ``${VAR}`` names a YAML config uses (only those without a default when `required_only`)."""
    found = [m for value in strings(yaml.safe_load(text)) for m in ENV_REF.findall(value)]
    return {name for name, default in found if not (required_only and default)}


def served_paths() -> set[str]:
    """The paths the daemon's HTTP server answers (the probes must use them)."""
    app = build_app(dict, lambda: (b"", "text/plain"))
    return {route.resource.canonical for route in app.router.routes() if route.resource is not None}


def container(statefulset: dict[str, Any]) -> dict[str, Any]:
    containers = statefulset["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


@pytest.mark.parametrize("variant", VARIANTS)
def test_kubernetes_manifests_validate_strictly(variant: str) -> None:
    version = kubernetes_validate.latest_version()
    for doc in kustomize(K8S / variant):
        if doc["kind"] in CRD_KINDS:
            continue
        kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("variant", VARIANTS)
def test_kubernetes_references_resolve(variant: str) -> None:
    res = by_kind(kustomize(K8S / variant))
    sts, svc, cfg, secret = res["StatefulSet"], res["Service"], res["ConfigMap"], res["Secret"]
    pod_labels = sts["spec"]["template"]["metadata"]["labels"]
    assert sts["spec"]["serviceName"] == svc["metadata"]["name"]
    for selector in (
        sts["spec"]["selector"]["matchLabels"],
        svc["spec"]["selector"],
        res["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= pod_labels.items()
    monitor = res["ServiceMonitor"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert svc["metadata"]["namespace"] in monitor["spec"]["namespaceSelector"]["matchNames"]
    port_names = {p["name"] for p in svc["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= port_names
    assert {e["path"] for e in monitor["spec"]["endpoints"]} == {"/metrics"}
    prometheus_rule = res["PrometheusRule"]
    assert prometheus_rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert prometheus_rule["metadata"]["namespace"] == svc["metadata"]["namespace"]
    assert prometheus_rule["spec"] == yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())
    main = container(sts)
    container_ports = {p["name"]: p["containerPort"] for p in main["ports"]}
    assert {p["targetPort"] for p in svc["spec"]["ports"]} <= set(container_ports)
    routes = served_paths()
    for probe in ("readinessProbe", "livenessProbe"):
        assert main[probe]["httpGet"]["path"] in routes
        assert main[probe]["httpGet"]["port"] in container_ports
    volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    claims = {c["metadata"]["name"] for c in sts["spec"]["volumeClaimTemplates"]}
    assert {m["name"] for m in main["volumeMounts"]} <= set(volumes) | claims
    assert volumes["config"]["configMap"]["name"] == cfg["metadata"]["name"]
    assert volumes["models"]["persistentVolumeClaim"]["claimName"] == res["PersistentVolumeClaim"]["metadata"]["name"]
    assert [e["secretRef"]["name"] for e in main["envFrom"]] == [secret["metadata"]["name"]]


@pytest.mark.parametrize("variant", VARIANTS)
def test_kubernetes_config_and_env_agree(variant: str, tmp_path: Path) -> None:
    res = by_kind(kustomize(K8S / variant))
    sts, cfg, secret = res["StatefulSet"], res["ConfigMap"], res["Secret"]
    main = container(sts)
    env = {e["name"]: e for e in main["env"]}
    assert env[REPLICAS_ENV]["value"] == str(sts["spec"]["replicas"]), "STREAMGUARD_REPLICAS must equal replicas"
    assert env[REPLICA_INDEX_ENV]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert parse_index(f"{sts['metadata']['name']}-{sts['spec']['replicas'] - 1}") == sts["spec"]["replicas"] - 1
    text = cfg["data"]["config.yaml"]
    provided = {**{k: "x" for k in secret["stringData"]}, **{k: e.get("value", "x") for k, e in env.items()}}
    missing = env_refs(text, required_only=True) - set(provided)
    assert not missing, f"config.yaml needs {missing}, which neither the Secret nor the env provides"
    mount = next(m for m in main["volumeMounts"] if m["name"] == "config")
    assert main["args"] == ["run", "--config", f"{mount['mountPath']}/config.yaml"]
    path = tmp_path / "config.yaml"
    path.write_text(text)
    secret_env = {k: v for k, v in secret["stringData"].items()}
    config = load_config(path, environ={**secret_env, **{k: str(e.get("value", "")) for k, e in env.items()}})
    assert config.server.port == {p["name"]: p["containerPort"] for p in main["ports"]}["http"]
    models = next(m for m in main["volumeMounts"] if m["name"] == "models")
    assert str(config.inference.model).startswith(models["mountPath"])
    data = next(m for m in main["volumeMounts"] if m["name"] == "data")
    assert str(config.data_dir) == data["mountPath"]
    assert config.inference.device == env["STREAMGUARD_DEVICE"]["value"]
    # It listens on every interface, so it must find its API token (in the Secret) or refuse to start.
    assert not config.server.host.startswith("127.")
    assert config.api.requires_token_for(config.server.host, environ=secret_env) is False
    assert config.api.requires_token_for(config.server.host, environ={}) is True


def test_cpu_and_gpu_statefulsets_differ_only_in_image_device_and_resources() -> None:
    cpu = documents(K8S / "cpu" / "statefulset.yaml")[0]
    gpu = documents(K8S / "gpu" / "statefulset.yaml")[0]
    gpu_main = container(gpu)
    assert gpu_main["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert gpu_main["image"].endswith(":cuda") and container(cpu)["image"].endswith(":cpu")
    for doc in (cpu, gpu):
        spec = doc["spec"]["template"]["spec"]
        main = spec["containers"][0]
        for key in ("image", "resources"):
            main.pop(key)
        main["env"] = [e for e in main["env"] if e["name"] != "STREAMGUARD_DEVICE"]
        spec.pop("nodeSelector", None)
        spec.pop("tolerations", None)
    assert cpu == gpu


def test_compose_validates_against_the_compose_schema() -> None:
    tool = VENV_BIN / "check-jsonschema"
    command = [str(tool) if tool.exists() else shutil.which("check-jsonschema") or "check-jsonschema"]
    result = subprocess.run(
        [*command, "--builtin-schema", "vendor.compose-spec", str(COMPOSE)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_references_resolve() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert {"redis", "streamguard", "prometheus", "grafana", "demo-source"} <= set(services)
    named_volumes = set(compose["volumes"])
    for name, service in services.items():
        build = service.get("build")
        if build:
            context = (COMPOSE.parent / build["context"]).resolve()
            assert (context / build["dockerfile"]).is_file(), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in named_volumes, f"{name}: volume {source} not declared"
        for dependency in service.get("depends_on", []):
            assert dependency in services
    assert "--appendonly" in services["redis"]["command"]  # persistence on
    # streamguard: the config it mounts validates with the environment compose gives it.
    sg = services["streamguard"]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in sg["volumes"]}
    config_path = COMPOSE.parent / mounted["/etc/streamguard/config.yaml"]
    assert sg["command"] == ["run", "--config", "/etc/streamguard/config.yaml"]
    assert env_refs(config_path.read_text(), required_only=True) <= set(sg["environment"])
    config = load_config(config_path, environ=sg["environment"])
    port = config.server.port
    assert f"{port}:{port}" in sg["ports"]
    assert str(config.inference.model) == sg["environment"]["STREAMGUARD_MODEL"]
    assert config.api.requires_token_for(config.server.host, environ=sg["environment"]) is False
    assert sg["environment"]["STREAMGUARD_API_TOKEN"].startswith("${STREAMGUARD_API_TOKEN:?")  # compose insists
    demo = config.streams[0]
    assert demo.url is not None and any(demo.url.startswith(target) for target in mounted)
    demo_args = services["demo-source"]["command"]
    assert Path(demo.url).parent.as_posix() == demo_args[demo_args.index("--media") + 1]
    assert Path(config.inference.model).parent.as_posix() == demo_args[demo_args.index("--models") + 1]
    # prometheus scrapes the streamguard service on its port; grafana reads prometheus on its port.
    prometheus_yml = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    job = next(j for j in prometheus_yml["scrape_configs"] if j["job_name"] == "streamguard")
    assert job["static_configs"][0]["targets"] == [f"streamguard:{port}"]
    prom_mounts = {v.split(":")[1] for v in services["prometheus"]["volumes"]}
    assert {"/etc/prometheus/prometheus.yml", f"/etc/prometheus/{prometheus_yml['rule_files'][0]}"} <= prom_mounts
    assert "9090:9090" in services["prometheus"]["ports"]


def test_grafana_provisioning_matches_the_compose_mounts() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    mounts = {v.split(":")[1]: v.split(":")[0] for v in compose["services"]["grafana"]["volumes"]}
    datasource = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (source,) = datasource["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090" and source["isDefault"]
    provider = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "streamguard.yml").read_text())
    folder = provider["providers"][0]["options"]["path"]
    assert mounts[f"{folder}/streamguard.json"] == "../grafana/streamguard.json"
    assert compose["services"]["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"].endswith(
        "streamguard.json"
    )
    assert UID == "streamguard"


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    unit = (DEPLOY / "systemd" / "streamguard.service").read_text()
    exec_start = re.search(r"^ExecStart=(\S+) (.*)$", unit, re.MULTILINE)
    assert exec_start is not None and exec_start.group(2) == "run --config /etc/streamguard/config.yaml"
    # The venv does not exist on this machine: verify the unit with an executable that does.
    copy = tmp_path / "streamguard.service"
    copy.write_text(unit.replace(exec_start.group(1), "/bin/true"))
    result = subprocess.run([analyze, "verify", "--man=no", str(copy)], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    assert "User=streamguard" in unit and "STREAMGUARD_MODELS_DIR" in unit
    assert (REPO / "deploy" / "system-deps.sh").is_file()


def test_triton_variant_validates_strictly_and_its_references_resolve(tmp_path: Path) -> None:
    import typer

    from streamguard.cli import app
    from streamguard.config import InferenceBackend

    docs = kustomize(K8S / "triton")
    version = kubernetes_validate.latest_version()
    for doc in docs:
        if doc["kind"] not in CRD_KINDS:
            kubernetes_validate.validate(doc, version, strict=True)
    named = {(doc["kind"], doc["metadata"]["name"]): doc for doc in docs}
    deployment, service = named[("Deployment", "triton")], named[("Service", "triton")]
    hpa, monitor = named[("HorizontalPodAutoscaler", "triton")], named[("ServiceMonitor", "triton")]
    ingest, config_map = named[("StatefulSet", "streamguard")], named[("ConfigMap", "streamguard-config")]

    pod = deployment["spec"]["template"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (server,) = pod["spec"]["containers"]
    (export,) = pod["spec"]["initContainers"]
    ports = {p["name"]: p["containerPort"] for p in server["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= set(ports)
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= {p["name"] for p in service["spec"]["ports"]}
    assert server["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert server["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert (hpa["spec"]["scaleTargetRef"]["kind"], hpa["spec"]["scaleTargetRef"]["name"]) == ("Deployment", "triton")

    # The init container's command is a real `streamguard export` invocation writing where Triton reads.
    export_command = cast(Any, typer.main.get_command(app)).commands["export"]  # typer's own click Group
    known = {opt for param in export_command.params for opt in (*param.opts, *param.secondary_opts)}
    args = export["args"]
    assert args[0] == "export" and {a for a in args if a.startswith("--")} <= known, args
    out = args[args.index("--out") + 1]
    mounts = {m["name"]: m["mountPath"] for m in export["volumeMounts"]}
    assert mounts["repository"] == out and f"--model-repository={out}" in server["args"]
    assert args[args.index("--checkpoint") + 1].startswith(mounts["models"])
    assert (
        pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]
        == named[("PersistentVolumeClaim", "streamguard-models")]["metadata"]["name"]
    )

    # The ingest replicas dial that Service's gRPC port, and their config says so.
    env = {e["name"]: e.get("value", "") for e in container(ingest)["env"]}
    grpc_port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "grpc")
    assert env["STREAMGUARD_TRITON_URL"] == f"triton.{service['metadata']['namespace']}.svc:{grpc_port}"
    path = tmp_path / "config.yaml"
    path.write_text(config_map["data"]["config.yaml"])
    secret_env = dict(named[("Secret", "streamguard-secrets")]["stringData"])
    config = load_config(path, environ={**secret_env, **env})
    assert config.inference.backend is InferenceBackend.TRITON
    assert config.inference.triton.url == env["STREAMGUARD_TRITON_URL"]
    assert config.inference.triton.model_name == args[args.index("--model-name") + 1]


def test_triton_ingest_statefulset_differs_from_cpu_only_in_inference() -> None:
    cpu = documents(K8S / "cpu" / "statefulset.yaml")[0]
    triton = documents(K8S / "triton" / "statefulset.yaml")[0]
    cpu_main, triton_main = container(cpu), container(triton)
    cpu_env = {e["name"]: e for e in cpu_main["env"]}
    triton_env = {e["name"]: e for e in triton_main["env"]}
    assert set(triton_env) - set(cpu_env) == {"STREAMGUARD_INFERENCE_BACKEND", "STREAMGUARD_TRITON_URL"}
    assert set(cpu_env) - set(triton_env) == {"STREAMGUARD_MODEL"}
    for sts in (cpu, triton):
        pod = sts["spec"]["template"]["spec"]
        main = pod["containers"][0]
        main.pop("env")
        main["volumeMounts"] = [m for m in main["volumeMounts"] if m["name"] != "models"]
        pod["volumes"] = [v for v in pod["volumes"] if v["name"] != "models"]
    assert cpu == triton
