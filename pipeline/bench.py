"""`make bench`: the offline cloud's speed and memory, and each handler's cold start.

Prints what it measures as it goes; the last line is one JSON object with every figure. Speed
targets are checked here, never in timed tests.

- files_per_s, p50_ms, p95_ms: FILES files, upload to terminal state, FailureRate=0, time scale 0.
- baseline_files_per_s: the same files through the offline cloud without its speed layer (the
  core alone: plain moto, same definition, handlers and enforcement; PIPELINE_OFFLINE_FAST=0).
- deploy_s: median offline deploy of template.yaml.
- init_ms: a fresh interpreter imports the handler and serves its first invocation on its
  fixture; AWS calls go to a moto server in another process, started and filled beforehand and
  not counted, so the handler still pays for its own imports (boto3 included). Import and first
  invocation are measured inside the process; init_ms is their sum. The same run's wall time
  minus a bare interpreter's start is reported too.
- memory: peak RSS of the offline cloud over the run, how much it grows per file (from a quarter
  of the run to its end), and what the cloud keeps of each file that its APIs return (execution
  history and description, object version, invocation logs) plus the file's result, measured as
  the Python objects they make. Growth within 1.5 times that is growth by what results take.

`--ablate` measures what each part of the speed layer pays instead: alternating runs with the
whole layer and with the layer less that part (this machine drifts 5-10% between runs, so only
alternating runs compare).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"

PROBE = r"""
import json, os, sys, time
started = time.perf_counter()
sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])
import app
imported = time.perf_counter()
class Context:
    function_name = "bench"; function_version = "$LATEST"; memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"; aws_request_id = "bench-1"
    log_group_name = "/aws/lambda/bench"; log_stream_name = "bench"
    def get_remaining_time_in_millis(self): return 10_000
event = json.loads(os.environ["BENCH_EVENT"])
stdout, sys.stdout = sys.stdout, open(os.devnull, "w")
app.lambda_handler(event, Context())
sys.stdout = stdout
served = time.perf_counter()
print(json.dumps({"import_ms": (imported - started) * 1000, "first_ms": (served - imported) * 1000}))
"""

SERVER = r"""
import logging, sys
from moto.server import ThreadedMotoServer
logging.getLogger("werkzeug").setLevel(logging.ERROR)
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()
print(f"http://{host}:{port}", flush=True)
sys.stdin.read()
"""


def log(message: str) -> None:
    print(message, flush=True)


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class RssSampler(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.peak = rss_mb()
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(0.1):
            self.peak = max(self.peak, rss_mb())

    def stop(self) -> float:
        self._halt.set()
        self.join()
        return max(self.peak, rss_mb())


def make_files(folder: Path, count: int) -> list[Path]:
    paths = []
    for number in range(count):
        path = folder / f"bench-{number:05d}.csv"
        path.write_text(f"id,value\n{number},{number * 3}\n", encoding="utf-8")
        paths.append(path)
    return paths


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (0 once it has ended)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_by_role(cloud: Any) -> dict[str, float]:
    return {role: sum(cpu_seconds(pid) for pid in pids) for role, pids in cloud.processes().items()}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def measure_deploy(runs: int) -> float:
    from pipeline.offline import OfflineCloud

    times = []
    for _ in range(runs):
        started = time.perf_counter()
        deployment = OfflineCloud.deploy(TEMPLATE, time_scale=0)
        deployment.__enter__()
        times.append(time.perf_counter() - started)
        deployment.__exit__(None, None, None)
    log(f"deploy: {runs} offline deploys of template.yaml: {', '.join(f'{t:.2f}' for t in times)} s; "
        f"median {statistics.median(times):.2f} s")
    return statistics.median(times)


def measure_throughput(files: list[Path], layer: Any = None, label: str = "offline cloud",
                       quiet: bool = False) -> dict[str, Any]:
    """Run files through the offline cloud with layer (as the environment says when None)."""
    from pipeline.offline import OfflineCloud

    with OfflineCloud.deploy(TEMPLATE, {"FailureRate": "0"}, time_scale=0, layer=layer) as cloud:
        sampler = RssSampler()
        sampler.start()
        before = rss_mb()
        quarter: list[float] = []

        def progress(result: Any, done: int, total: int) -> None:
            if done == total // 4:
                quarter.append(rss_mb())
            if done % 250 == 0 and not quiet:
                log(f"  {label}: {done}/{total} files")

        cpu_before = cpu_by_role(cloud)
        started = time.perf_counter()
        results = cloud.run(files, timeout_s=600, on_result=progress)
        elapsed = time.perf_counter() - started
        cpu_after = cpu_by_role(cloud)
        peak = sampler.stop()
        after = rss_mb()
        kept = kept_per_file(cloud, results)
        cpu_ms = {role: round((cpu_after[role] - cpu_before.get(role, 0.0)) * 1000 / len(files), 1)
                  for role in cpu_after}
    accounted = sum(result.status == "SUCCEEDED" for result in results)
    latencies = [result.latency_ms for result in results if result.latency_ms is not None]
    figures = {
        "files_per_s": round(len(files) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.5), 1),
        "p95_ms": round(percentile(latencies, 0.95), 1),
        "succeeded": accounted,
        "memory_peak_mb": round(peak, 1),
        "memory_start_mb": round(before, 1),
        "memory_growth_kb_per_file": round((after - (quarter[0] if quarter else before)) * 1024
                                           / max(1, len(files) - len(files) // 4), 1),
        "result_json_kb_per_file": round(sum(len(json.dumps(r.to_json(), default=str)) for r in results)
                                         / 1024 / len(results), 2),
        "memory_records_kb_per_file": kept["records_kb"],
        "memory_result_kb_per_file": kept["result_kb"],
        "cpu_ms_per_file": cpu_ms,
    }
    if quiet:
        return figures
    log(f"{label}: {len(files)} files in {elapsed:.1f} s = {figures['files_per_s']} files/s; "
        f"latency p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms; {accounted} succeeded; "
        f"RSS {before:.0f} MB at start, peak {peak:.0f} MB, growth {figures['memory_growth_kb_per_file']} KB/file; "
        f"kept per file: records {kept['records_kb']} KB + result {kept['result_kb']} KB")
    log("  CPU per file: " + ", ".join(f"{role} {ms} ms" for role, ms in cpu_ms.items())
        + f"; {sum(cpu_ms.values()) * figures['files_per_s'] / 10 / (os.cpu_count() or 1):.0f}% of "
        f"{os.cpu_count()} cores busy")
    return figures


def measure_backfill(files: list[Path]) -> dict[str, Any]:
    """Backfill files already in the bucket (placed with no event) through the stack's backfill
    state machine: objects per second from its start to the last object read, speed layer on."""
    from pipeline import backfill
    from pipeline.driver import ExecutionFollower
    from pipeline.offline import OfflineCloud

    with OfflineCloud.deploy(TEMPLATE, {"FailureRate": "0"}, time_scale=0) as cloud:
        with cloud.bus.silenced():
            for path in files:
                cloud.clients.s3.put_object(Bucket=cloud.stack.bucket, Key=f"backfill/{path.name}",
                                            Body=path.read_bytes())
        cpu_before = cpu_by_role(cloud)
        started = time.perf_counter()
        follower = ExecutionFollower(cloud.clients, cloud.stack.state_machine_arn, page_size=1000)
        run = backfill.start(cloud.clients, cloud.stack, "backfill/")
        results, ended = backfill.follow(cloud.clients, cloud.stack, run, follower=follower, poll_s=0.05,
                                         timeout_s=1800)
        elapsed = time.perf_counter() - started
        cpu_after = cpu_by_role(cloud)
    cpu_ms = {role: round((cpu_after[role] - cpu_before.get(role, 0.0)) * 1000 / len(files), 1) for role in cpu_after}
    figures = {"objects": len(files), "objects_per_s": round(len(files) / elapsed, 1), "status": ended["status"],
               "succeeded": sum(result.status == "SUCCEEDED" for result in results), "cpu_ms_per_object": cpu_ms}
    log(f"backfill: {len(files)} objects in {elapsed:.1f} s = {figures['objects_per_s']} objects/s "
        f"(MaxConcurrency 100); {figures['succeeded']} succeeded; backfill {ended['status']}")
    return figures


def deep_size(value: Any, seen: set[int] | None = None) -> int:
    """Bytes a JSON-shaped Python value takes, containers and contents."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    size = sys.getsizeof(value)
    if isinstance(value, dict):
        size += sum(deep_size(key, seen) + deep_size(item, seen) for key, item in value.items())
    elif isinstance(value, (list, tuple, set)):
        size += sum(deep_size(item, seen) for item in value)
    elif hasattr(value, "__dict__"):
        size += deep_size(vars(value), seen)
    return size


def kept_per_file(cloud: Any, results: list[Any], sample: int = 100) -> dict[str, float]:
    """What the cloud keeps of a file and what its result holds, in KB per file (sampled)."""
    sfn, s3 = cloud.clients.stepfunctions, cloud.clients.s3
    chosen = [result for result in results if result.execution_arn][:sample]
    records = 0
    for result in chosen:
        history = sfn.get_execution_history(executionArn=result.execution_arn)["events"]
        described = sfn.describe_execution(executionArn=result.execution_arn)
        head = s3.head_object(Bucket=result.bucket, Key=result.key, VersionId=result.version_id)
        for response in (described, head):
            response.pop("ResponseMetadata", None)
        records += deep_size(history) + deep_size(described) + deep_size(head) + result.key.__sizeof__()
    logs = sum(deep_size(report) for report in cloud.runtime.reports) / max(1, len(results))
    held = sum(deep_size(result) for result in chosen)
    count = max(1, len(chosen))
    return {"records_kb": round((records / count + logs) / 1024, 1), "result_kb": round(held / count / 1024, 1)}


def function_environment(logical_id: str) -> dict[str, str]:
    from pipeline.template import function_environment as template_environment, load_template

    environment = template_environment(load_template(TEMPLATE), logical_id, {"FailureRate": "0"})
    if "IDEMPOTENCY_TABLE" in environment:
        environment["IDEMPOTENCY_TABLE"] = "bench-idempotency"
    return environment


def prepare_aws(endpoint: str) -> None:
    """Reset the moto server and create what the handlers read: not part of a cold start."""
    import boto3
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).read()
    options = {"endpoint_url": endpoint, "region_name": "us-east-1",
               "aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
    s3 = boto3.client("s3", **options)
    s3.create_bucket(Bucket="file-pipeline-landing-example")
    s3.put_object(Bucket="file-pipeline-landing-example", Key="daily/sales.csv", Body=b"id,amount\n1,2\n2,3\n")
    boto3.client("dynamodb", **options).create_table(
        TableName="bench-idempotency", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )


def timed_process(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    completed = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    return (time.perf_counter() - started) * 1000, completed.stdout


def measure_cold_starts(runs: int) -> dict[str, dict[str, float]]:
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        endpoint = server.stdout.readline().strip()
        base_env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", "AWS_ENDPOINT_URL": endpoint,
                    "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
                    "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_EC2_METADATA_DISABLED": "true"}
        bare = [timed_process([sys.executable, "-c", "pass"], base_env)[0] for _ in range(runs)]
        figures = {}
        for name, logical_id, fixture in (
            ("check_ext", "CheckExtFunction", "eventbridge-csv.json"),
            ("random_failure", "RandomFailureFunction", "process-csv.json"),
        ):
            env = {**base_env, **function_environment(logical_id), "LAMBDA_TASK_ROOT": str(ROOT / "src" / name),
                   "BENCH_EVENT": (ROOT / "events" / fixture).read_text(encoding="utf-8")}
            samples = []
            for _ in range(runs):
                prepare_aws(endpoint)
                wall, out = timed_process([sys.executable, "-c", PROBE], env)
                sample = json.loads(out.strip().splitlines()[-1])
                sample["wall_minus_bare_ms"] = wall - statistics.median(bare)
                samples.append(sample)
            import_ms = statistics.median(s["import_ms"] for s in samples)
            first_ms = statistics.median(s["first_ms"] for s in samples)
            init_ms = statistics.median(s["import_ms"] + s["first_ms"] for s in samples)
            wall_ms = statistics.median(s["wall_minus_bare_ms"] for s in samples)
            figures[name] = {"init_ms": round(init_ms, 1), "import_ms": round(import_ms, 1),
                             "first_invocation_ms": round(first_ms, 1), "process_minus_bare_ms": round(wall_ms, 1)}
            log(f"cold start {name}: import {import_ms:.1f} ms + first invocation {first_ms:.1f} ms = "
                f"{init_ms:.1f} ms (median of {runs}); whole process minus a bare interpreter: {wall_ms:.1f} ms")
        log(f"  (a bare interpreter starts in {statistics.median(bare):.1f} ms)")
        return figures
    finally:
        if server.stdin:
            server.stdin.close()
        server.wait(timeout=10)


TARGETS = {
    "files_per_s": 100, "speedup": 10.0, "deploy_s": 1.5,
    "init_ms.check_ext": 60, "init_ms.random_failure": 400,
    "memory_growth_per_kept": 1.5,
}


def ablate(files: list[Path], parts: list[str], rounds: int) -> dict[str, Any]:
    """For each part: rounds pairs of runs, the whole speed layer and the layer less the part,
    alternating (which goes first alternates too). A part's gain is measured twice: in files per
    second, and in CPU time per file over every process of the cloud, which other work on the
    machine disturbs far less than it disturbs wall time."""
    from pipeline.local.speed.layer import PARTS, SpeedLayer

    gains: dict[str, Any] = {}
    for part in parts or list(PARTS):
        runs: dict[str, list[dict[str, Any]]] = {"with": [], "without": []}
        for round_ in range(rounds):
            order = [("with", SpeedLayer()), ("without", SpeedLayer(skip={part}))]
            for name, layer in order if round_ % 2 == 0 else reversed(order):
                runs[name].append(measure_throughput(files, layer, quiet=True))
        rate = {name: [run["files_per_s"] for run in measured] for name, measured in runs.items()}
        cpu = {name: [round(sum(run["cpu_ms_per_file"].values()), 1) for run in measured]
               for name, measured in runs.items()}
        gain = (statistics.mean(rate["with"]) / statistics.mean(rate["without"]) - 1) * 100
        cpu_gain = (statistics.mean(cpu["without"]) / statistics.mean(cpu["with"]) - 1) * 100
        gains[part] = {"files_per_s": rate, "cpu_ms_per_file": cpu, "gain_percent": round(gain, 1),
                       "cpu_gain_percent": round(cpu_gain, 1)}
        log(f"{part}: files/s with {rate['with']} / without {rate['without']}: {gain:+.1f}%; "
            f"CPU ms per file with {cpu['with']} / without {cpu['without']}: {cpu_gain:+.1f}%")
    return gains


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, help="files per run (1,000; with --compare, 400)")
    parser.add_argument("--runs", type=int, default=7, help="cold start runs per handler (median)")
    parser.add_argument("--deploys", type=int, default=5, help="offline deploys (median)")
    parser.add_argument("--skip-baseline", action="store_true", help="do not measure the baseline (no speed layer)")
    parser.add_argument("--ablate", nargs="*", metavar="PART",
                        help="measure what each part of the speed layer pays (all parts if none named)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating pairs of runs per part (--ablate), "
                                                                   "or of whole benches (--compare)")
    parser.add_argument("--no-backfill", dest="backfill", action="store_false",
                        help="do not measure a backfill of the same files")
    parser.add_argument("--compare", metavar="REF", help="this tree against the commit REF in alternating whole "
                                                         "runs, as `python -m pipeline.bench_compare REF` does")
    args = parser.parse_args(argv)

    if args.compare is not None:
        from pipeline import bench_compare

        files = ["--files", str(args.files)] if args.files else []
        return bench_compare.main([args.compare, "--rounds", str(args.rounds), *files])
    args.files = args.files or 1000

    if args.ablate is not None:
        with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as folder:
            gains = ablate(make_files(Path(folder), args.files), args.ablate, args.rounds)
        print(json.dumps({"files": args.files, "rounds": args.rounds, "ablation": gains}), flush=True)
        return 0

    log(f"Benchmark on {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    init = measure_cold_starts(args.runs)
    deploy_s = measure_deploy(args.deploys)
    with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as folder:
        files = make_files(Path(folder), args.files)
        from pipeline.local.speed import select_layer

        optimized = measure_throughput(files, select_layer(True))
        baseline = None if args.skip_baseline else measure_throughput(
            files, select_layer(False), label="baseline (the core, no speed layer)")
        wanted = args.backfill and os.environ.get("PIPELINE_BENCH_BACKFILL") != "0"
        backfilled = measure_backfill(files) if wanted else None
    summary: dict[str, Any] = {
        "files": args.files,
        "files_per_s": optimized["files_per_s"],
        "p50_ms": optimized["p50_ms"],
        "p95_ms": optimized["p95_ms"],
        "baseline_files_per_s": baseline["files_per_s"] if baseline else None,
        "speedup": round(optimized["files_per_s"] / baseline["files_per_s"], 2) if baseline else None,
        "deploy_s": round(deploy_s, 2),
        "init_ms": {name: figures["init_ms"] for name, figures in init.items()},
        "init_detail": init,
        "memory_peak_mb": optimized["memory_peak_mb"],
        "memory_growth_kb_per_file": optimized["memory_growth_kb_per_file"],
        "memory_records_kb_per_file": optimized["memory_records_kb_per_file"],
        "memory_result_kb_per_file": optimized["memory_result_kb_per_file"],
        "result_json_kb_per_file": optimized["result_json_kb_per_file"],
        "cpu_ms_per_file": optimized["cpu_ms_per_file"],
        "backfill": backfilled,
    }
    checks = {
        "files_per_s": summary["files_per_s"] >= TARGETS["files_per_s"],
        "speedup": summary["speedup"] is not None and summary["speedup"] >= TARGETS["speedup"],
        "deploy_s": summary["deploy_s"] <= TARGETS["deploy_s"],
        "init_ms.check_ext": summary["init_ms"]["check_ext"] <= TARGETS["init_ms.check_ext"],
        "init_ms.random_failure": summary["init_ms"]["random_failure"] <= TARGETS["init_ms.random_failure"],
        "memory_growth_per_kept": summary["memory_growth_kb_per_file"] <= TARGETS["memory_growth_per_kept"] * (
            summary["memory_records_kb_per_file"] + summary["memory_result_kb_per_file"]),
    }
    summary["targets_met"] = checks
    for name, met in checks.items():
        rule = {"files_per_s": ">=", "speedup": ">= x baseline"}.get(name, "<=")
        rule = "<= x kept per file" if name == "memory_growth_per_kept" else rule
        log(f"target {name} {rule} {TARGETS[name]}: {'met' if met else 'NOT met'}")
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
