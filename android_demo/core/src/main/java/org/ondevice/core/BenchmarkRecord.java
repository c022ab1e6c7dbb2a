package org.ondevice.core;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The benchmark result record, the same fields as {@code ondevice profile} writes (see android_demo/README.md):
 * the artifact, the target and device, the runtime, the run settings, every latency sample and their summary, load
 * and first-inference time and peak memory.
 */
public final class BenchmarkRecord {
    public static final int SCHEMA_VERSION = 1;
    public static final String TARGET = "android-app";

    private BenchmarkRecord() {}

    /**
     * @param artifact path, format, sha256 and size_bytes of the model file
     * @param device facts about the device (android.os.Build on a phone)
     * @param runtime name and version of the runtime that ran the model
     * @param samplesMs one latency per timed run, in milliseconds, warm-up runs excluded
     * @param peakRssBytes the process's peak resident memory, or null where it cannot be read
     */
    public static Map<String, Object> build(
            Map<String, Object> artifact,
            Map<String, Object> device,
            Map<String, Object> runtime,
            int threads,
            int warmup,
            int seqLen,
            double[] samplesMs,
            double loadMs,
            double firstInferenceMs,
            Long peakRssBytes) {
        LatencyStats s = LatencyStats.of(samplesMs);
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("schema_version", SCHEMA_VERSION);
        r.put("artifact", artifact);
        r.put("target", TARGET);
        r.put("device", device);
        r.put("runtime", runtime);
        r.put("threads", threads);
        r.put("warmup", warmup);
        r.put("runs", samplesMs.length);
        r.put("seq_len", seqLen);
        List<Object> samples = new ArrayList<>(samplesMs.length);
        for (double x : samplesMs) {
            samples.add(x);
        }
        r.put("samples_ms", samples);
        r.put("p50_ms", s.p50);
        r.put("p90_ms", s.p90);
        r.put("p99_ms", s.p99);
        r.put("mean_ms", s.mean);
        r.put("std_ms", s.std);
        r.put("load_ms", loadMs);
        r.put("first_inference_ms", firstInferenceMs);
        r.put("peak_rss_bytes", peakRssBytes);
        return r;
    }

    /** VmHWM (peak resident set) from the text of /proc/self/status, in bytes; null when absent. */
    public static Long peakRssBytes(String procStatus) {
        for (String line : procStatus.split("\n")) {
            if (line.startsWith("VmHWM:")) {
                String[] parts = line.substring(6).trim().split("\\s+");
                long kib = Long.parseLong(parts[0]);
                return kib * 1024;
            }
        }
        return null;
    }
}
