#!/usr/bin/env bash
# Runs a command against a fresh single-host Ceph cluster, then tears the cluster down:
#   tests/rados/with-cluster.sh [--osds N] -- COMMAND ARGS...
# The command sees CEPH_CONF and FTQ_TEST_RADOS (rados://ftq) and, for failover tests,
# FTQ_CEPH_CLUSTER_DIR (scripts/ceph-cluster kill-osd takes it). When the cluster cannot start
# this fails with the reason: the rados suite is never skipped silently.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
osds=1
while [ $# -gt 0 ]; do
  case "$1" in
    --osds) osds=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "with-cluster.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "with-cluster.sh: no command" >&2; exit 2; }
dir=$(mktemp -d /tmp/ftq-ceph.XXXXXX)
trap '"$root/scripts/ceph-cluster" stop "$dir"' EXIT
if ! "$root/scripts/ceph-cluster" start "$dir" --osds "$osds" >/dev/null; then
  echo "with-cluster.sh: FAILED: the test cluster did not start (see above); RADOS tests cannot run" >&2
  exit 1
fi
set -a
# shellcheck disable=SC1091
. "$dir/env"
set +a
export FTQ_CEPH_CLUSTER_DIR=$dir
"$@"
