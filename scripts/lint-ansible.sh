#!/usr/bin/env bash
# Lint the Ansible content: ansible-lint with the production profile (config:
# .ansible-lint) over the collection and deploy.yml, then `ansible-test sanity`
# on the collection with Python 3.11. Runs both; fails if either fails.
#
# ansible-test runs `--local` from .venv and puts each sanity test's pinned
# tools in its own venv under ~/.ansible/test/venv (kept, and reused while the
# pins are unchanged). It creates those venvs without pip and bootstraps pip
# with a get-pip script it would download from a host this machine can't
# reach: scripts/ansible-test-get-pip.py stands in for it, with the pip wheel
# from PyPI. Results (and ansible-test's scratch files) go to the collection's
# tests/output/ (git-ignored).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
coll=$top/collections/ansible_collections/fujitsu/vmcsinfo
# shellcheck source=ansible-env.sh
. "$here/ansible-env.sh" || exit 1

# Install the get-pip stand-in where ansible-test looks for its bootstrap script.
prepare_ansible_test() {
	local cache=$HOME/.ansible/test/cache ver
	ver=$(python - <<-'PY'
		import types
		from ansible_test._internal.python_requirements import get_venv_packages
		print(get_venv_packages(types.SimpleNamespace(version="3.11"))["pip"])
	PY
	) || return 1
	mkdir -p "$cache"
	if ! compgen -G "$cache/pip-$ver-*.whl" >/dev/null; then
		pip download -q --no-deps --only-binary=:all: -d "$cache" "pip==$ver" || return 1
	fi
	install -m 0644 "$here/ansible-test-get-pip.py" "$cache/get_pip_${ver//./_}.py"
}

rc=0
echo "lint-ansible: role READMEs match meta/argument_specs.yml"
python "$here/role_docs.py" --check || rc=1

echo "lint-ansible: ansible-playbook deploy.yml --syntax-check"
if [ -f "$top/deploy.yml" ]; then
	(cd "$top" && ANSIBLE_CONFIG="$top/ansible.cfg" ansible-playbook deploy.yml --syntax-check \
		-i inventories/example/hosts.yml) || rc=1
fi
for pb in deploy crash_report fleetdb; do
	echo "lint-ansible: ansible-playbook fujitsu.vmcsinfo.$pb --syntax-check"
	(cd "$top" && ANSIBLE_CONFIG="$top/ansible.cfg" ansible-playbook "fujitsu.vmcsinfo.$pb" \
		--syntax-check -i inventories/example/hosts.yml) || rc=1
done

t0=$SECONDS
targets=(collections/ansible_collections/fujitsu/vmcsinfo)
[ -f "$top/deploy.yml" ] && targets+=(deploy.yml)
echo "lint-ansible: ansible-lint ${targets[*]}"
if (cd "$top" && ansible-lint --offline --profile production "${targets[@]}"); then
	echo "lint-ansible: ansible-lint ok ($((SECONDS - t0)) s)"
else
	echo "lint-ansible: ansible-lint FAILED ($((SECONDS - t0)) s)"
	rc=1
fi

t0=$SECONDS
echo "lint-ansible: ansible-test sanity --python 3.11"
if prepare_ansible_test && (cd "$coll" && ansible-test sanity --local --python 3.11); then
	echo "lint-ansible: ansible-test sanity ok ($((SECONDS - t0)) s)"
else
	echo "lint-ansible: ansible-test sanity FAILED ($((SECONDS - t0)) s)"
	rc=1
fi
exit "$rc"
