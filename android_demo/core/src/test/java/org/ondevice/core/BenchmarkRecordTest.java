package org.ondevice.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;

public class BenchmarkRecordTest {
    @Test
    public void peakMemoryFromProcStatus() {
        String status = "Name:\tjava\nVmPeak:\t 1000 kB\nVmHWM:\t   20480 kB\nVmRSS:\t 100 kB\n";
        assertEquals(Long.valueOf(20480L * 1024), BenchmarkRecord.peakRssBytes(status));
        assertNull(BenchmarkRecord.peakRssBytes("Name:\tjava\n"));
    }

    @Test
    @SuppressWarnings("unchecked")
    public void recordHasTheSharedFields() {
        Map<String, Object> artifact = new LinkedHashMap<>();
        artifact.put("path", "model.int8-dynamic.pte");
        Map<String, Object> r = BenchmarkRecord.build(artifact, new LinkedHashMap<String, Object>(),
                new LinkedHashMap<String, Object>(), 2, 3, 128, new double[] {4, 1, 3, 2}, 12.5, 7.25, null);
        Map<String, Object> back = (Map<String, Object>) Json.parse(Json.write(r));
        List<String> keys = Arrays.asList("schema_version", "artifact", "target", "device", "runtime", "threads",
                "warmup", "runs", "seq_len", "samples_ms", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "load_ms",
                "first_inference_ms", "peak_rss_bytes");
        assertEquals(keys, Arrays.asList(back.keySet().toArray(new String[0])));
        assertEquals("android-app", back.get("target"));
        assertEquals(4L, back.get("runs"));
        assertEquals(2.5, (Double) back.get("p50_ms"), 0);
        assertEquals(2.5, (Double) back.get("mean_ms"), 0);
    }
}
