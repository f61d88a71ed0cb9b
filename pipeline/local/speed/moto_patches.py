"""The speed layer's patches into moto: each replaces a step moto repeats for every request,
state or execution with one done once, and answers exactly as moto would.

Each is named, so that `make bench ARGS="--ablate PART"` can leave one out and show what it pays; each is
shown to answer as moto does in tests/pipeline/test_speed_layer.py.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

from moto.core.base_backend import BackendDict
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client as moto_boto_client
from moto.stepfunctions.parser.utils import TMP_THREADS

from pipeline.local.patching import Private

EVENTS_LOCK = Private(EventManager, "_mutex", instance=True)
HISTORY_EVENTS = Private(EventManager, "_history_event_list", instance=True)
_original_parse = AmazonStateLanguageParser.parse
_original_account_backends = BackendDict.__getitem__


@lru_cache(maxsize=64)
def cached_parse(definition: str) -> Any:
    """Parsed programs are immutable between executions; moto re-parses for every execution."""
    return _original_parse(definition)


_task_clients: dict[tuple[str, str], Any] = {}
_task_clients_lock = threading.Lock()


def cached_task_client(region: str, service: str) -> Any:
    """boto3 clients are thread-safe and cost ~10 ms to build: one per region and service (built
    once, also when the first executions ask for it together)."""
    client = _task_clients.get((region, service))
    if client is None:
        with _task_clients_lock:
            client = _task_clients.get((region, service))
            if client is None:
                client = _task_clients[(region, service)] = moto_boto_client.boto_client_for(region=region,
                                                                                             service=service)
    return client


class _EndedEventManager:
    def __init__(self, history: list[dict[str, Any]]):
        self._history = history

    def get_event_history(self) -> list[dict[str, Any]]:
        return list(self._history)  # read-only from here on: no deep copy needed


class _EndedEnvironment:
    def __init__(self, history: list[dict[str, Any]], map_runs: Any):
        self.event_manager = _EndedEventManager(history)
        self.map_run_record_pool_manager = map_runs


class EndedWorker:
    """What an ended execution keeps of its worker: the history, for GetExecutionHistory, and its
    Map Runs, for ListMapRuns and DescribeMapRun (AWS answers both after the execution ended)."""

    def __init__(self, history: list[dict[str, Any]], map_runs: Any):
        self.env = _EndedEnvironment(history, map_runs)

    def stop(self, stop_date: Any = None, error: Any = None, cause: Any = None) -> None:
        """Stopping an ended execution changes nothing."""


def release_interpreter(execution: Any) -> None:
    """Keep an ended execution's history; let its interpreter, environment and threads go."""
    worker = execution.exec_worker
    if worker is None or getattr(worker, "env", None) is None:
        return
    events = worker.env.event_manager
    with EVENTS_LOCK.of(events):  # the interpreter has ended and is let go: its events need no deep copy
        execution.exec_worker = EndedWorker(list(HISTORY_EVENTS.of(events)), worker.env.map_run_record_pool_manager)
    for thread in [thread for thread in TMP_THREADS if not thread.is_alive()]:
        try:
            TMP_THREADS.remove(thread)
        except ValueError:  # removed by another ending execution meanwhile
            pass


def account_backends(self: BackendDict, account_id: str) -> Any:
    """moto's BackendDict.__getitem__, without its lock and its scan of every service's backends
    for an account it already holds: moto registers the two together and resets them together."""
    if dict.__contains__(self, account_id):
        return dict.__getitem__(self, account_id)
    return _original_account_backends(self, account_id)


@lru_cache(maxsize=256)
def cached_json_path(path: str) -> Any:
    from jsonpath_ng.ext import parse

    return parse(path)


@lru_cache(maxsize=256)
def cached_result_path(path: str) -> Any:
    from jsonpath_ng import parse

    return parse(path)


def clear_caches() -> None:
    """Forget what was cached for one deployed cloud."""
    with _task_clients_lock:
        _task_clients.clear()
