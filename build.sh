#!/usr/bin/env bash
# Tern's one build entry point.
#   ./build.sh            publish the host to out/tern and the load-test harness to out/tern-load (Native AOT, fully static)
#   ./build.sh run [ARGS] build if needed, then run `out/tern serve` (embedded default config) or `out/tern ARGS`
#   ./build.sh test       every test: unit, in-process integration, end-to-end against out/tern
#   ./build.sh bench      the BenchmarkDotNet suites (bench/)
#   ./build.sh fuzz TARGET SECONDS  afl-fuzz one parser (SharpFuzz) for SECONDS, findings in out/fuzz/TARGET (fuzz --list: the targets)
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

# fuzz TARGET SECONDS: afl-fuzz (afl++ from apt) on one target of tests/Tern.Fuzz, with the assemblies that
# hold Tern's parsers (and DnsClient's and Tomlyn's, which read DNS responses and the config file)
# instrumented by sharpfuzz (SharpFuzz.CommandLine, installed under out/fuzz/tools). The build and the
# instrumented copies live under out/fuzz/bin, apart from the build output the tests use.
fuzz() {
  local target=${1:-} seconds=${2:-60}
  local bin="$OUT/fuzz/bin" tools="$OUT/fuzz/tools" src="$ROOT/tests/Tern.Fuzz"
  if [ -z "$target" ] || ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: ./build.sh fuzz TARGET SECONDS | ./build.sh fuzz --list  (SECONDS: a whole number above 0)" >&2
    exit 2
  fi
  log "building tests/Tern.Fuzz (copied to out/fuzz/bin)"
  dotnet build "$src/Tern.Fuzz.csproj" -c Release -nologo -clp:NoSummary -v:q
  rm -rf "$bin"
  mkdir -p "$(dirname "$bin")"
  cp -r "$src/bin/Release/net10.0" "$bin"
  if [ "$target" = "--list" ]; then
    dotnet "$bin/Tern.Fuzz.dll" --list
    return
  fi
  if ! dotnet "$bin/Tern.Fuzz.dll" --list | grep -qx -- "$target"; then
    echo "build.sh: unknown fuzz target \"$target\" (./build.sh fuzz --list)" >&2
    exit 2
  fi
  if ! command -v afl-fuzz >/dev/null; then
    log "installing afl++"
    local SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends afl++ >/dev/null
  fi
  if [ ! -x "$tools/sharpfuzz" ]; then
    log "installing SharpFuzz.CommandLine into out/fuzz/tools"
    dotnet tool install SharpFuzz.CommandLine --version 2.3.0 --tool-path "$tools" >/dev/null
  fi
  local dll
  for dll in Tern.Smtp Tern.Sasl Tern.Dns Tern.Dsn Tern.MtaSts Tern.Delivery tern DnsClient Tomlyn; do
    "$tools/sharpfuzz" "$bin/$dll.dll" >/dev/null
  done

  local out="$OUT/fuzz/$target" dict=()
  rm -rf "$out"
  mkdir -p "$out/crashes" "$out/tmp"
  [ -f "$src/dict/$target.dict" ] && dict=(-x "$src/dict/$target.dict")
  log "afl-fuzz $target for ${seconds}s (output: out/fuzz/$target)"
  # dotnet itself is not instrumented (SKIP_BIN_CHECK); .NET starts slowly (FORKSRV_INIT_TMOUT); this VM
  # has no CPU frequency governor, piped core dumps, nor spare cores to pin (SKIP_CPUFREQ etc.). The
  # targets' scratch directories go under out/fuzz/TARGET/tmp (afl-fuzz kills them before they clean up).
  local rc=0
  AFL_SKIP_BIN_CHECK=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
    AFL_FORKSRV_INIT_TMOUT=60000 AFL_NO_UI=1 AFL_QUIET=1 TMPDIR="$out/tmp" \
    afl-fuzz -V "$seconds" -t 5000 -m none -i "$src/corpus/$target" -o "$out/afl" "${dict[@]}" \
    -- dotnet "$bin/Tern.Fuzz.dll" "$target" > "$out/afl-fuzz.log" 2>&1 || rc=$?
  local stats="$out/afl/default/fuzzer_stats"
  if [ ! -f "$stats" ]; then
    tail -30 "$out/afl-fuzz.log" >&2
    echo "build.sh: afl-fuzz did not run (exit $rc; log: out/fuzz/$target/afl-fuzz.log)" >&2
    exit 1
  fi
  stat_of() { awk -v k="$1" '$1 == k { print $3 }' "$stats"; }
  local execs crashes hangs
  execs=$(stat_of execs_done)
  crashes=$(stat_of saved_crashes); [ -n "$crashes" ] || crashes=$(stat_of unique_crashes)
  hangs=$(stat_of saved_hangs); [ -n "$hangs" ] || hangs=$(stat_of unique_hangs)
  find "$out/afl/default/crashes" "$out/afl/default/hangs" -maxdepth 1 -type f -name 'id:*' 2>/dev/null | while read -r f; do
    cp "$f" "$out/crashes/$(basename "$(dirname "$f")")-$(basename "$f" | tr ':,' '__')"
  done
  echo "fuzz $target: ${seconds}s, execs_done=$execs, crashes=$crashes, hangs=$hangs, corpus=$(stat_of corpus_count)"
  if [ "${crashes:-0}" -gt 0 ] || [ "${hangs:-0}" -gt 0 ]; then
    echo "build.sh: findings copied to out/fuzz/$target/crashes (repro: dotnet out/fuzz/bin/Tern.Fuzz.dll $target FILE)" >&2
    exit 1
  fi
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
  fuzz) shift; fuzz "$@" ;;
  *) echo "usage: ./build.sh [run [ARGS]|test|bench [ARGS]|fuzz TARGET SECONDS|fuzz --list]" >&2; exit 2 ;;
esac
