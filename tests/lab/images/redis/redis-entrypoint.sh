#!/bin/sh
# Size the cache from the container's memory limit, as charts do from a pod's limit: under a limit, redis-server gets
# --maxmemory (half of the limit, the rest for its own overhead and exec'd tools) and --maxmemory-policy noeviction,
# so a full cache refuses writes ("OOM command not allowed ...") instead of being killed by the kernel.
# No limit: no maxmemory. A command that sets --maxmemory itself is left alone.
set -eu
if [ "${1:-}" = redis-server ]; then
  case " $* " in *" --maxmemory "*) ;; *)
    limit=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null \
            || echo max)
    # cgroup v2 says "max"; v1 says a huge number (page-rounded LONG_MAX) when there is no limit
    if [ "$limit" != max ] && [ "$limit" -lt 1099511627776 ]; then
      set -- "$@" --maxmemory "$((limit / 2))" --maxmemory-policy noeviction
      echo "redis-entrypoint: memory limit $limit bytes -> --maxmemory $((limit / 2)) --maxmemory-policy noeviction"
    fi ;;
  esac
fi
exec "$@"
