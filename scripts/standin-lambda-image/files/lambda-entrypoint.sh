#!/bin/sh
# Same contract as the official image's entrypoint: `docker run IMAGE app.handler` runs the
# handler under an emulator at /usr/local/bin/aws-lambda-rie (none here), or straight against
# AWS_LAMBDA_RUNTIME_API. `sam local invoke` starts its own emulator, /var/rapid/aws-lambda-rie.
if [ $# -ne 1 ]; then
  echo "entrypoint requires the handler name to be the first argument" 1>&2
  exit 142
fi
export _HANDLER="$1"
RUNTIME_ENTRYPOINT=/var/runtime/bootstrap
if [ -z "${AWS_LAMBDA_RUNTIME_API}" ]; then
  exec /usr/local/bin/aws-lambda-rie $RUNTIME_ENTRYPOINT
else
  exec $RUNTIME_ENTRYPOINT
fi
