#!/bin/sh
# The app's tokenizer on the command line: one JSON line of model inputs per line of stdin.
#
#   android_demo/core/tokenize.sh [--max-length N[,N...]] [--json] [--full] [--pair] BUNDLE_DIR|tokenizer.json < texts
#
# Prints {"input_ids": [...], "attention_mask": [...], "token_type_ids": [...], "seq_len": N, "tokens": T} per line:
# the ids the app would give the model, so that any bundle's tokenizer can be checked against the Python side.
# --json: each input line is a JSON string (texts with newlines). --full: {"ids": [...]} only, untruncated.
# --pair: each line is two texts separated by one tab (with --json, a JSON array of two strings), encoded as a pair
# (the longer text cut first); a line without a tab or with an empty second text is refused. With --full, the ids and
# token_type_ids of the untruncated pair.
# The core's classes are compiled with javac, as run_jvm_tests.sh does, into ONDEVICE_CORE_BUILD (default
# android_demo/core/build/cli) when a source is newer than the build.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=${ONDEVICE_CORE_BUILD:-$here/build/cli}
stamp="$build/classes/.built"
if [ ! -f "$stamp" ] || [ -n "$(find "$here/src/main/java" -name '*.java' -newer "$stamp" | head -n 1)" ]; then
    rm -rf "$build/classes"
    mkdir -p "$build/classes"
    javac --release 8 -Xlint:all -Werror -encoding UTF-8 -d "$build/classes" \
        $(find "$here/src/main/java" -name '*.java') >&2
    touch "$stamp"
fi
exec java -Xmx1g -cp "$build/classes" org.ondevice.core.TokenizeMain "$@"
