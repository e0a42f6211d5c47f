# shellcheck shell=bash
# Shared by scripts/test-all and scripts/test-sanitize: runs one suite, shows its output, and
# adds its counts (parsed from the runner's summary) to the caller's `passed` and `failed`;
# a suite that exits non-zero is added to `broken`. Logs go to $LOG_DIR.
#
#   suite NAME ctest|node|vitest|plain COMMAND...
suite() {
  local name=$1 kind=$2
  shift 2
  echo "=== $name"
  local log=$LOG_DIR/$name.log started=$SECONDS
  "$@" 2>&1 | tee "$log.raw"
  local status=${PIPESTATUS[0]} p=0 f=0
  sed 's/\x1b\[[0-9;]*m//g' "$log.raw" >"$log"  # runners colour their summaries
  case $kind in
    ctest)
      local total
      total=$(grep -oP 'tests failed out of \K\d+' "$log" | tail -1)
      f=$(grep -oP '\d+(?= tests failed out of)' "$log" | tail -1)
      p=$(( ${total:-0} - ${f:-0} )) ;;
    node)
      p=$(grep -oP '^# pass \K\d+' "$log" | tail -1)
      f=$(grep -oP '^# fail \K\d+' "$log" | tail -1) ;;
    vitest)
      p=$(grep -oP 'Tests\s+(\d+ failed \| )?\K\d+(?= passed)' "$log" | tail -1)
      f=$(grep -oP 'Tests\s+\K\d+(?= failed)' "$log" | tail -1) ;;
    plain)
      p=$(grep -oP '^\K\d+(?= passed, \d+ failed)' "$log" | tail -1)
      f=$(grep -oP '^\d+ passed, \K\d+(?= failed)' "$log" | tail -1) ;;
  esac
  p=${p:-0} f=${f:-0}
  if [[ $status -ne 0 && $f -eq 0 ]]; then f=1; fi
  passed=$((passed + p)) failed=$((failed + f))
  [[ $status -eq 0 ]] || broken+=("$name")
  echo "=== $name: $p passed, $f failed ($((SECONDS - started)) s)"
}

# Prints why the tests of one suite's log failed, a few lines per failure (CI shows only the
# tail of the output, and the full logs stay on the machine that ran them).
#
#   failure_digest LOG
failure_digest() {
  awk '
    function show(text) { if (shown++ < 24) print "  " substr(text, 1, 300) }
    # node --test (TAP): a failed test, then its YAML block with failureType and error.
    /^ *not ok [0-9]+ - .* # TODO/ { next }  # known failures (node:test todo), not why it failed
    /^ *not ok [0-9]+ - / { name = $0; sub(/^ *not ok [0-9]+ - /, "", name); pending = 1; next }
    pending && /^ *failureType: .subtestsFailed./ { pending = 0; next }
    pending && /^ *error: \|-$/ { want_next = 1; next }
    pending && want_next { line = $0; sub(/^ */, "", line); show(name ": " line); pending = want_next = 0; next }
    pending && /^ *error: / { line = $0; sub(/^ *error: /, "", line); show(name ": " line); pending = 0; next }
    pending && /^ *\.\.\.$/ { show(name); pending = 0; next }
    # GoogleTest: the failed expectation and the lines that explain it.
    / Failure$/ { context = 4; show($0); next }
    context > 0 { context--; show($0); next }
    /^\[  FAILED  \] .*\([0-9]+ ms\)$/ { show($0) }
    # Sanitizers and fuzzers.
    /^(==[0-9]+==)?(ERROR|WARNING): (AddressSanitizer|ThreadSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)/ { show($0) }
    /runtime error: / { show($0) }
    # Builds that failed.
    /: (fatal )?error: / { show($0) }
    /build failed/ { show($0) }
    # ssehub logs that a failing test printed.
    /^# [0-9T:.-]+ (error|critical) / { show($0) }
  ' "$1"
}
