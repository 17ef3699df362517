# shellcheck shell=bash
# Sourced: the podman settings this project's test containers need on these
# machines (rootful podman with runc and fixed ulimits), by pointing
# CONTAINERS_CONF at the repo's tests/podman/containers.conf.
CONTAINERS_CONF="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/podman/containers.conf"
export CONTAINERS_CONF
