#!/usr/bin/env bash
# Tern's one build entry point.
#   ./build.sh            publish the host to out/tern and the load-test harness to out/tern-load (Native AOT, fully static)
#   ./build.sh run [ARGS] build if needed, then run `out/tern serve` (embedded default config) or `out/tern ARGS`
#   ./build.sh test       every test: unit, in-process integration, end-to-end against out/tern
#   ./build.sh bench      the BenchmarkDotNet suites (bench/)
# On a fresh Debian 12 machine it installs what is missing with apt-get, non-interactively.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
OUT="$ROOT/out"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

log() { printf '==> %s\n' "$*" >&2; }

# Debian packages the build and the tests need: cmake + libssl-dev for the static OpenSSL link,
# and the real peers the tests talk to (Postfix's smtp-source/smtp-sink, swaks with TLS and AUTH,
# knot and unbound as the DNS tests' signing authoritative server and validating resolver).
APT_PACKAGES=(cmake libssl-dev postfix swaks prometheus cyrus-clients libsasl2-modules libnet-ssleay-perl libio-socket-ssl-perl libauthen-sasl-perl openssl python3 knot unbound)

ensure_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    local SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    # Postfix is installed for its test tools (smtp-source, smtp-sink); no mail system is configured.
    echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  command -v dotnet >/dev/null || { echo "build.sh: the .NET SDK (dotnet) is required" >&2; exit 1; }
}

revision() { git rev-parse --short HEAD 2>/dev/null || echo unknown; }

publish() {
  ensure_packages
  publish_one tern src/Tern/Tern.csproj src
  publish_one tern-load loadtest/Tern.Load/Tern.Load.csproj "src loadtest"
}

# publish_one NAME PROJECT "SOURCE DIRS": Native AOT, fully static, to out/NAME. Rebuilds only when a
# source, project or props file is newer than the binary.
publish_one() {
  local name=$1 project=$2 sources=$3
  # shellcheck disable=SC2086
  if [ -x "$OUT/$name" ] && [ -z "$(find $sources aot.props Directory.Build.props Directory.Packages.props -newer "$OUT/$name" -type f 2>/dev/null | head -1)" ]; then
    return
  fi
  log "publishing out/$name (Native AOT, static)"
  dotnet publish "$project" -c Release -r linux-x64 -o "$OUT" \
    -p:SourceRevisionId="$(revision)" -nologo -clp:NoSummary -v:q
  rm -f "$OUT"/*.dbg "$OUT"/*.pdb
  if ldd "$OUT/$name" >/dev/null 2>&1; then
    echo "build.sh: out/$name is not a static executable" >&2
    exit 1
  fi
}

run_tests() {
  publish
  log "building tests"
  dotnet build Tern.slnx -c Release -nologo -clp:NoSummary -v:q
  log "running tests"
  local rc=0
  TERN_BINARY="$OUT/tern" TERN_LOAD_BINARY="$OUT/tern-load" dotnet test Tern.slnx -c Release --no-build -nologo \
    --logger "console;verbosity=minimal" > "$OUT/test.log" 2>&1 || rc=$?
  # One summary line per test assembly ("Passed!  - Failed: 0, Passed: 90, Skipped: 0, ...").
  grep -E '^(Passed|Failed)!' "$OUT/test.log" || true
  local passed failed skipped
  passed=$(grep -E '^(Passed|Failed)!' "$OUT/test.log" | grep -oE 'Passed: +[0-9]+' | awk '{s+=$2} END {print s+0}')
  failed=$(grep -E '^(Passed|Failed)!' "$OUT/test.log" | grep -oE 'Failed: +[0-9]+' | awk '{s+=$2} END {print s+0}')
  skipped=$(grep -E '^(Passed|Failed)!' "$OUT/test.log" | grep -oE 'Skipped: +[0-9]+' | awk '{s+=$2} END {print s+0}')
  if [ "$rc" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
    grep -E -A25 '^\s*Failed ' "$OUT/test.log" | head -200 || tail -100 "$OUT/test.log"
    echo "build.sh: tests failed (exit $rc; full log: out/test.log)" >&2
    echo "$passed passed, $failed failed, $skipped skipped"
    exit 1
  fi
  echo "$passed passed, $failed failed, $skipped skipped"
}

case "${1:-publish}" in
  publish|build) publish ;;
  run)
    shift
    publish
    if [ $# -eq 0 ]; then set -- serve; fi
    exec "$OUT/tern" "$@"
    ;;
  test) run_tests ;;
  bench)
    shift
    ensure_packages
    dotnet run -c Release --project bench/Tern.Benchmarks -- "$@"
    ;;
  *) echo "usage: ./build.sh [run [ARGS]|test|bench [ARGS]]" >&2; exit 2 ;;
esac
