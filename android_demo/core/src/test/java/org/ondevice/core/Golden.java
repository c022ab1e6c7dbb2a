package org.ondevice.core;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The files the Python side writes for these tests (tests/android/test_java_core.py): golden ids, softmax results
 * and latency figures, and a real exported bundle. Their directory comes in as -Dondevice.golden=DIR.
 */
final class Golden {
    private Golden() {}

    static File dir() {
        String d = System.getProperty("ondevice.golden");
        if (d == null || d.isEmpty()) {
            throw new AssertionError("no golden files: run these tests through android_demo/core/run_jvm_tests.sh "
                    + "with ONDEVICE_GOLDEN set, as tests/android/test_java_core.py does");
        }
        return new File(d);
    }

    /** The bundle where `ondevice export --copy-to DIR/assets/ondevice` put it: the layout of the app's assets. */
    static File bundle() {
        return new File(new File(dir(), "assets"), "ondevice");
    }

    /** One JSON object per line. */
    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> lines(String name) throws IOException {
        List<Map<String, Object>> out = new ArrayList<>();
        for (String line : Files.readAllLines(new File(dir(), name).toPath(), StandardCharsets.UTF_8)) {
            if (!line.isEmpty()) {
                out.add((Map<String, Object>) Json.parse(line));
            }
        }
        if (out.isEmpty()) {
            throw new AssertionError(name + " is empty");
        }
        return out;
    }

    /** A JSON list of numbers as floats. */
    static float[] floats(List<Object> values) {
        float[] out = new float[values.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) ((Number) values.get(i)).doubleValue();
        }
        return out;
    }

    /** "101 2023 102" as ints. */
    static int[] ints(Object spaceSeparated) {
        String s = ((String) spaceSeparated).trim();
        if (s.isEmpty()) {
            return new int[0];
        }
        String[] parts = s.split(" ");
        int[] out = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            out[i] = Integer.parseInt(parts[i]);
        }
        return out;
    }

    /** A readable form of a text for failure messages: escapes for everything outside printable ASCII. */
    static String show(String text) {
        StringBuilder sb = new StringBuilder();
        int limit = Math.min(text.length(), 120);
        for (int i = 0; i < limit; i++) {
            char c = text.charAt(i);
            if (c >= 0x20 && c < 0x7F) {
                sb.append(c);
            } else {
                sb.append(String.format("\\u%04X", (int) c));
            }
        }
        return sb.append(text.length() > limit ? "... (" + text.length() + " chars)" : "").toString();
    }
}
