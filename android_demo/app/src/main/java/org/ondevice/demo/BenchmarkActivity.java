package org.ondevice.demo;

import android.app.Activity;
import android.content.Intent;
import android.os.Build;
import android.os.SystemClock;
import android.util.Log;
import android.widget.TextView;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.Map;
import org.ondevice.core.BenchmarkRecord;
import org.ondevice.core.BundleClassifier;
import org.ondevice.core.BundleException;
import org.ondevice.core.Json;
import org.ondevice.core.Manifest;
import org.ondevice.core.WordPieceTokenizer;

/**
 * Benchmark mode, started over ADB by `ondevice profile --target android` or by hand:
 *
 * <pre>
 * adb shell am start -W -n org.ondevice.demo/.BenchmarkActivity --es model model.int8-dynamic.pte \
 *     --ei runs 50 --ei warmup 5 --ei threads 2 [--es text "a sentence"] [--ei seq_len 128] [--es out NAME.json]
 * adb shell run-as org.ondevice.demo cat files/benchmarks/NAME.json
 * </pre>
 *
 * Loads one model of the bundle, runs it on one fixed input (warm-up runs first, untimed), and writes the result
 * record of `ondevice profile` (android_demo/README.md) to files/benchmarks/ in the app's private storage, atomically: a temporary file
 * renamed into place, so a reader never sees half a record. A failure writes a record with an "error" field instead.
 */
public class BenchmarkActivity extends Activity {
    private static final String TAG = "ondevice";
    static final String DEFAULT_TEXT = "a gorgeous , witty , seductive movie .";

    private TextView status;

    @Override
    protected void onCreate(android.os.Bundle savedInstanceState) {
        super.onCreate(savedInstanceState);
        status = new TextView(this);
        status.setPadding(32, 32, 32, 32);
        status.setText("benchmark running…");
        setContentView(status);
        Intent intent = getIntent();
        String out = intent.getStringExtra("out");
        if (out == null || out.isEmpty() || out.contains("/") || out.startsWith(".")) {
            out = "benchmark.json"; // a plain file name only: the record stays in files/benchmarks/
        }
        File file = new File(new File(getFilesDir(), "benchmarks"), out);
        Thread worker = new Thread(() -> {
            Map<String, Object> record;
            try {
                record = run(intent);
            } catch (Exception | UnsatisfiedLinkError e) {
                String reason = e instanceof BundleException ? e.getMessage() : e.toString();
                record = BenchmarkRecord.failure(DeviceFacts.utcNow(), reason);
            }
            String message = write(file, record);
            Log.i(TAG, message);
            runOnUiThread(() -> {
                status.setText(message);
                finish();
            });
        }, "benchmark");
        worker.start();
    }

    private Map<String, Object> run(Intent intent) throws Exception {
        String model = intent.getStringExtra("model");
        int runs = intent.getIntExtra("runs", 50);
        int warmup = intent.getIntExtra("warmup", 5);
        int threads = intent.getIntExtra("threads", 2);
        int seqLen = intent.getIntExtra("seq_len", 0);
        String text = intent.getStringExtra("text");
        if (runs < 1 || warmup < 0 || threads < 1) {
            throw new BundleException("runs and threads must be at least 1 and warmup at least 0");
        }
        Manifest manifest = org.ondevice.core.Bundle.open(new AssetSource(getAssets())).manifest();
        Manifest.Artifact chosen = null;
        for (Manifest.Artifact a : manifest.artifacts) {
            if (a.file.equals(model) || (model == null && chosen == null)) {
                chosen = a;
            }
        }
        if (chosen == null) {
            StringBuilder have = new StringBuilder();
            for (Manifest.Artifact a : manifest.artifacts) {
                have.append(have.length() == 0 ? "" : ", ").append(a.file);
            }
            throw new BundleException("the bundle has no model file " + model + " (it has: " + have + ")");
        }
        String created = DeviceFacts.utcNow();
        Map<String, Object> device = DeviceFacts.describe();
        device.put("battery_before", DeviceFacts.batteryPercent(this));
        device.put("temperature_c_before", DeviceFacts.batteryTemperatureC(this));
        BundleClassifier classifier = Classifiers.create(this, chosen.format, chosen.quantization, threads);
        try {
            classifier.load();
            WordPieceTokenizer.Encoding input;
            if (seqLen > 0) {
                if (!chosen.seqLens.contains(seqLen)) {
                    throw new BundleException(chosen.file + " has no length " + seqLen + " (it has " + chosen.seqLens
                            + ")");
                }
                input = classifier.bundle().tokenizer().encode(text == null ? DEFAULT_TEXT : text, seqLen);
            } else {
                input = classifier.encode(text == null ? DEFAULT_TEXT : text);
            }
            long t0 = SystemClock.elapsedRealtimeNanos();
            float[] logits = classifier.logits(input);
            double firstMs = (SystemClock.elapsedRealtimeNanos() - t0) / 1e6;
            for (int i = 0; i < warmup; i++) {
                classifier.logits(input);
            }
            double[] samples = new double[runs];
            for (int i = 0; i < runs; i++) {
                long s = SystemClock.elapsedRealtimeNanos();
                classifier.logits(input);
                samples[i] = (SystemClock.elapsedRealtimeNanos() - s) / 1e6;
            }
            Map<String, Object> artifact = new LinkedHashMap<>();
            artifact.put("path", AssetSource.path(chosen.file));
            artifact.put("file", chosen.file);
            artifact.put("format", chosen.format);
            artifact.put("sha256", chosen.sha256);
            artifact.put("size_bytes", chosen.sizeBytes);
            artifact.put("quantization", chosen.quantization);
            artifact.put("seq_lens", new ArrayList<Object>(chosen.seqLens));
            artifact.put("bundle", AssetSource.DIR);
            artifact.put("labels", new ArrayList<Object>(classifier.bundle().labels()));
            artifact.put("verification", chosen.verification);
            Map<String, Object> target = new LinkedHashMap<>();
            target.put("name", BenchmarkRecord.TARGET);
            target.put("kind", BenchmarkRecord.TARGET);
            target.put("abi", Build.SUPPORTED_ABIS[0]);
            target.put("serial", null); // the host knows it; an app may not read it
            target.put("description", "the ondevice demo app's benchmark mode");
            Map<String, Object> runtime = new LinkedHashMap<>();
            runtime.put("name", Classifiers.runtimeName(chosen.format));
            runtime.put("version", Classifiers.runtimeVersion(chosen.format));
            runtime.put("runner", "android-app");
            runtime.put("runner_version", BuildConfig.VERSION_NAME);
            Map<String, Object> settings = new LinkedHashMap<>();
            settings.put("threads", threads);
            settings.put("cpu_mask", null);
            settings.put("warmup", warmup);
            settings.put("runs", runs);
            settings.put("method", chosen.entryPoints.get(input.seqLen));
            settings.put("seq_len", input.seqLen);
            settings.put("input_dtype", chosen.inputDtype);
            settings.put("input_tokens", Math.min(input.tokens, input.seqLen));
            device.put("battery_after", DeviceFacts.batteryPercent(this));
            device.put("temperature_c_after", DeviceFacts.batteryTemperatureC(this));
            return BenchmarkRecord.build(created, DeviceFacts.isEmulator(), artifact, target, device, runtime,
                    settings, samples, classifier.modelLoadMs(), firstMs, DeviceFacts.peakRssBytes(), logits);
        } finally {
            classifier.close();
        }
    }

    private static String write(File file, Map<String, Object> record) {
        File dir = file.getParentFile();
        File tmp = new File(dir, file.getName() + ".tmp");
        try {
            if (!dir.isDirectory() && !dir.mkdirs()) {
                throw new IOException("cannot create " + dir);
            }
            try (OutputStream out = new FileOutputStream(tmp)) {
                out.write(Json.write(record).getBytes(StandardCharsets.UTF_8));
            }
            if (!tmp.renameTo(file)) {
                throw new IOException("cannot rename " + tmp);
            }
            return (record.containsKey("error") ? "benchmark failed: " + record.get("error") + "; " : "")
                    + "wrote " + file.getAbsolutePath();
        } catch (IOException e) {
            return "cannot write " + file + ": " + e.getMessage();
        }
    }
}
