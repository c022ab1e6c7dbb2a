package org.ondevice.core;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The profiling result record, schema "ondevice.profile" version 1: the record {@code ondevice profile} writes for
 * every target , so the host reads the app's results like any other. Its sections, as
 * android_demo/README.md lists them: artifact, target, device, runtime, settings, timing (every latency sample and
 * p50/p90/p99, mean, std, min, max, load and first-inference time), memory (peak RSS), operators, outputs.
 */
public final class BenchmarkRecord {
    public static final String SCHEMA = "ondevice.profile";
    public static final int SCHEMA_VERSION = 1;
    /** The target name the app reports; the host may name the device more precisely. */
    public static final String TARGET = "android-app";

    private BenchmarkRecord() {}

    /**
     * A complete record.
     *
     * @param created ISO-8601 UTC time of the run
     * @param emulated true on an Android emulator: its latencies are no device's
     * @param artifact path, file, format, sha256, size_bytes, quantization, seq_lens of the model file
     * @param target name, kind, abi, serial, description
     * @param device facts about the device (android.os.Build and /proc, /sys where readable)
     * @param runtime name, version, runner, runner_version
     * @param settings threads, cpu_mask, warmup, runs, method, seq_len, input_dtype, input_tokens
     * @param samplesMs one latency per timed run, in milliseconds, warm-up runs excluded
     * @param peakRssBytes the process's peak resident memory, or null where it cannot be read
     * @param logits the model's output on the benchmark input, for the host to compare with its own
     */
    public static Map<String, Object> build(
            String created,
            boolean emulated,
            Map<String, Object> artifact,
            Map<String, Object> target,
            Map<String, Object> device,
            Map<String, Object> runtime,
            Map<String, Object> settings,
            double[] samplesMs,
            double loadMs,
            double firstInferenceMs,
            Long peakRssBytes,
            float[] logits) {
        Map<String, Object> r = header(created, true, null);
        r.put("emulated", emulated);
        r.put("artifact", artifact);
        r.put("target", target);
        r.put("device", device);
        r.put("runtime", runtime);
        r.put("settings", settings);
        r.put("timing", timing(samplesMs, loadMs, firstInferenceMs));
        Map<String, Object> memory = new LinkedHashMap<>();
        memory.put("peak_rss_bytes", peakRssBytes);
        r.put("memory", memory);
        r.put("operators", null); // the app's runtimes give no per-operator profile through their Java APIs
        Map<String, Object> outputs = new LinkedHashMap<>();
        List<Object> values = new ArrayList<>();
        for (float x : logits) {
            values.add((double) x);
        }
        outputs.put("logits", values);
        outputs.put("reference_logits", null);
        outputs.put("max_abs_diff", null);
        outputs.put("tolerance", null);
        outputs.put("match", null);
        r.put("outputs", outputs);
        return r;
    }

    /** A record of a run that could not be made, with the reason (a damaged bundle, an unknown model file). */
    public static Map<String, Object> failure(String created, String reason) {
        Map<String, Object> r = header(created, false, reason);
        r.put("error", reason);
        return r;
    }

    private static Map<String, Object> header(String created, boolean complete, String reason) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("schema", SCHEMA);
        r.put("schema_version", SCHEMA_VERSION);
        r.put("created", created);
        r.put("complete", complete);
        r.put("incomplete_reason", reason);
        return r;
    }

    static Map<String, Object> timing(double[] samplesMs, double loadMs, double firstInferenceMs) {
        LatencyStats s = LatencyStats.of(samplesMs);
        Map<String, Object> t = new LinkedHashMap<>();
        t.put("load_ms", loadMs);
        t.put("first_inference_ms", firstInferenceMs);
        List<Object> samples = new ArrayList<>(samplesMs.length);
        for (double x : samplesMs) {
            samples.add(x);
        }
        t.put("samples_ms", samples);
        t.put("p50_ms", s.p50);
        t.put("p90_ms", s.p90);
        t.put("p99_ms", s.p99);
        t.put("mean_ms", s.mean);
        t.put("std_ms", s.std);
        t.put("min_ms", s.min);
        t.put("max_ms", s.max);
        return t;
    }

    /** VmHWM (peak resident set) from the text of /proc/self/status, in bytes; null when absent. */
    public static Long peakRssBytes(String procStatus) {
        for (String line : procStatus.split("\n")) {
            if (line.startsWith("VmHWM:")) {
                String[] parts = line.substring(6).trim().split("\\s+");
                return Long.parseLong(parts[0]) * 1024;
            }
        }
        return null;
    }
}
