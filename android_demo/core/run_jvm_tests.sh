#!/bin/sh
# Compile the core module and its JUnit 4 tests with plain javac and run them: no Gradle, no Android SDK.
#
#   android_demo/core/run_jvm_tests.sh [BUILD_DIR [TEST_CLASS ...]]
#
# TEST_CLASS: the JUnit classes to run (org.ondevice.core.ClassifierParityTest, ...), each test class by default.
# ONDEVICE_GOLDEN names the directory of golden files and the exported bundle that the parity tests read;
# tests/android/test_java_core.py makes them from the Python side and calls this script. JUNIT_JAR and
# HAMCREST_JAR default to Debian's junit4 and libhamcrest-java. The exit status is JUnit's.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/build/jvm}
[ $# -gt 0 ] && shift
junit=${JUNIT_JAR:-/usr/share/java/junit4.jar}
hamcrest=${HAMCREST_JAR:-/usr/share/java/hamcrest-core.jar}

for jar in "$junit" "$hamcrest"; do
    if [ ! -f "$jar" ]; then
        echo "missing $jar: install Debian's junit4 and libhamcrest-java (ondevice setup does)" >&2
        exit 2
    fi
done

rm -rf "$build"
mkdir -p "$build/classes" "$build/test-classes"
# --release 8: the core must build for Android's Java level as well as for this JVM.
javac --release 8 -Xlint:all -Werror -encoding UTF-8 -d "$build/classes" $(find "$here/src/main/java" -name '*.java')
javac -Xlint:all -encoding UTF-8 -cp "$build/classes:$junit" -d "$build/test-classes" \
    $(find "$here/src/test/java" -name '*.java')

if [ $# -gt 0 ]; then
    tests="$*"
else
    tests=$(cd "$here/src/test/java" && find . -name '*Test.java' | sed 's|^\./||; s|\.java$||; s|/|.|g' | sort)
fi
exec java -Xmx1g -Dondevice.golden="${ONDEVICE_GOLDEN:-}" \
    -cp "$build/classes:$build/test-classes:$junit:$hamcrest" org.junit.runner.JUnitCore $tests
