# Shared by scripts/run and scripts/test: a Python virtualenv in .venv with the project installed.
# Sourced, not run. Installs Debian packages only when something is missing.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
    # apt_install PACKAGE... : installs those that are not installed yet.
    local missing=()
    for package in "$@"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing ${missing[*]} with apt-get" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

find_python() {
    # An interpreter >= 3.11, by absolute path (a shim on PATH costs start-up time on every run).
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
           "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            "$candidate" -c 'import sys; print(sys.executable)'
            return 0
        fi
    done
    return 1
}

ensure_venv() {
    # ensure_venv EXTRAS : (re)installs the project into .venv when pyproject.toml or the extras changed.
    local extras="$1"
    if ! command -v git >/dev/null 2>&1 || ! find_python >/dev/null; then
        apt_install git python3 python3-venv python3-pip
    fi
    local python
    python="$(find_python)" || { echo "error: Python 3.11 or newer is needed" >&2; return 1; }
    if [ ! -x "$VENV/bin/python" ]; then
        "$python" -m venv "$VENV" 2>/dev/null || { apt_install python3-venv && "$python" -m venv "$VENV"; }
    fi
    local stamp="$VENV/.installed"
    local want
    want="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)-$extras"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        local target="$ROOT"
        [ -n "$extras" ] && target="$ROOT[$extras]"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
        # compat mode: a plain path entry instead of an import hook, which would cost every start-up ~10 ms.
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$target" \
            --config-settings editable_mode=compat
        echo "$want" > "$stamp"
    fi
}
