package org.ondevice.demo;

import android.app.Activity;
import android.graphics.Color;
import android.os.Bundle;
import android.os.SystemClock;
import android.widget.Button;
import android.widget.EditText;
import android.widget.RadioGroup;
import android.view.View;
import android.widget.TextView;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.ondevice.core.BundleClassifier;
import org.ondevice.core.BundleException;
import org.ondevice.core.Predictions;
import org.ondevice.core.Result;
import org.ondevice.core.Tokenizer;

/**
 * A text box (two for a model of sentence pairs: the bundle says text_pair), a runtime switch, and the label,
 * probabilities and latency of the text. Loading and inference run on one background thread; the UI thread only
 * formats results. A bundle that cannot be used is reported on screen.
 */
public class MainActivity extends Activity {
    private static final int THREADS = 2;

    private final ExecutorService worker = Executors.newSingleThreadExecutor();
    private BundleClassifier classifier; // touched on the worker thread only

    private EditText text;
    private EditText textPair;
    private Button classify;
    private TextView label;
    private TextView probabilities;
    private TextView latency;
    private TextView status;

    @Override
    protected void onCreate(Bundle savedInstanceState) {
        super.onCreate(savedInstanceState);
        setContentView(R.layout.activity_main);
        text = findViewById(R.id.text);
        textPair = findViewById(R.id.text_pair);
        classify = findViewById(R.id.classify);
        label = findViewById(R.id.label);
        probabilities = findViewById(R.id.probabilities);
        latency = findViewById(R.id.latency);
        status = findViewById(R.id.status);
        RadioGroup runtime = findViewById(R.id.runtime);
        runtime.setOnCheckedChangeListener((group, id) -> load(formatOf(id)));
        classify.setOnClickListener(v -> classify(text.getText().toString(),
                textPair.getVisibility() == View.VISIBLE ? textPair.getText().toString() : null));
        load(formatOf(runtime.getCheckedRadioButtonId()));
    }

    private static String formatOf(int radioId) {
        return radioId == R.id.runtime_litert ? LiteRtClassifier.FORMAT : ExecuTorchClassifier.FORMAT;
    }

    private void load(String format) {
        classify.setEnabled(false);
        showStatus(getString(R.string.loading), false);
        worker.execute(() -> {
            if (classifier != null) {
                classifier.close();
                classifier = null;
            }
            BundleClassifier c = Classifiers.create(this, format, null, THREADS);
            try {
                c.load();
            } catch (BundleException e) {
                runOnUiThread(() -> showStatus(e.getMessage(), true));
                return;
            } catch (RuntimeException | UnsatisfiedLinkError e) {
                runOnUiThread(() -> showStatus("the runtime failed to start: " + e, true));
                return;
            }
            classifier = c;
            String done = String.format(Locale.ROOT, "%s %s, %s, loaded in %.0f ms", Classifiers.runtimeName(format),
                    Classifiers.runtimeVersion(format), c.artifact().file, c.modelLoadMs());
            boolean pair = c.bundle().manifest().textPair;
            runOnUiThread(() -> {
                showStatus(done, false);
                textPair.setVisibility(pair ? View.VISIBLE : View.GONE);
                classify.setEnabled(true);
            });
        });
    }

    /** Classifies the text, or the pair when {@code second} is not null. */
    private void classify(String input, String second) {
        classify.setEnabled(false);
        worker.execute(() -> {
            BundleClassifier c = classifier;
            if (c == null) {
                return;
            }
            try {
                long t0 = SystemClock.elapsedRealtimeNanos();
                Tokenizer.Encoding encoding = second == null ? c.encode(input) : c.encodePair(input, second);
                List<Result> results = Predictions.of(c.logits(encoding), c.bundle().manifest());
                double ms = (SystemClock.elapsedRealtimeNanos() - t0) / 1e6;
                runOnUiThread(() -> show(results, ms, encoding.seqLen));
            } catch (Exception e) {
                runOnUiThread(() -> {
                    showStatus("classification failed: " + e.getMessage(), true);
                    classify.setEnabled(true);
                });
            }
        });
    }

    private void show(List<Result> results, double ms, int seqLen) {
        // A multi-label model gives every label above its threshold, perhaps none; a single-label one its top label.
        List<String> applying = Predictions.applying(results);
        label.setText(applying.isEmpty() ? "(none)" : String.join(", ", applying));
        StringBuilder sb = new StringBuilder();
        for (Result r : results) {
            sb.append(String.format(Locale.ROOT, "%-12s %6.2f%%%n", r.label(), 100 * r.probability()));
        }
        probabilities.setText(sb.toString());
        latency.setText(String.format(Locale.ROOT, "%.1f ms (tokenizer, model at length %d, scores)", ms, seqLen));
        classify.setEnabled(true);
    }

    private void showStatus(String message, boolean error) {
        status.setText(message);
        status.setTextColor(error ? Color.rgb(0xB0, 0x00, 0x20) : Color.DKGRAY);
    }

    @Override
    protected void onDestroy() {
        worker.execute(() -> {
            if (classifier != null) {
                classifier.close();
                classifier = null;
            }
        });
        worker.shutdown();
        super.onDestroy();
    }
}
