"""Stand-in for the python3.13 base image's /var/runtime/bootstrap.py.

Runs awslambdaric with Lambda's sys.path order: the function's code (/var/task) first, then
layers (/opt/python), then the runtime's own packages (/var/runtime: awslambdaric, boto3).
"""

import os
import sys

runtime_dir = os.path.dirname(os.path.abspath(__file__))
task_root = os.environ.get("LAMBDA_TASK_ROOT", "/var/task")
sys.path = [path for path in sys.path if path not in (runtime_dir, "")]
sys.path[0:0] = [task_root, "/opt/python/lib/python3.13/site-packages", "/opt/python"]
sys.path.append(runtime_dir)

from awslambdaric.__main__ import main  # noqa: E402

main([sys.argv[0], os.environ["_HANDLER"]])
