# Sourced by the legs that build mpikernel a second time, against another MPI.
# (from the checkout: the legs' test globs, tests/binding/test_binding_*.py, expand there)
cd "$ROOT" || exit 1

# copy_source DIR: the checkout without the main leg's build artifacts (compiled against its MPI)
copy_source() {
    mkdir -p "$1" && tar -C "$ROOT" --exclude=./build --exclude='*.so' --exclude=./_mpi/MPI.c \
        --exclude=./mpikernel/_build_config.json --exclude='./*.egg-info' --exclude=./.git -cf - . \
        | tar -C "$1" -xf -
}

# installed_pytest VENV TEST...: the tests against the package installed in VENV, never the source
# tree (built against the main leg's MPI): `pytest`, not `python -m pytest`, run from $WORK,
# because the kernel tests start `python -m mpikernel` in the current directory, which would put
# a checkout first on sys.path. The leg's venv comes first on PATH and is VIRTUAL_ENV (the main
# leg's venv is still activated in .ci/run).
installed_pytest() {
    local venv=$1
    shift
    (cd "$WORK" && PATH="$venv/bin:$PATH" VIRTUAL_ENV="$venv" "$venv/bin/pytest" -p no:cacheprovider \
        --rootdir="$ROOT" -c "$ROOT/pyproject.toml" "${@/#/$ROOT/}")
}
