package org.ondevice.demo;

import android.content.Context;
import org.ondevice.core.BundleClassifier;

/** The runtime is chosen at run time, by the manifest's format name. */
final class Classifiers {
    private Classifiers() {}

    /** @param quantization which model file of that format; null for the bundle's first */
    static BundleClassifier create(Context context, String format, String quantization, int threads) {
        switch (format) {
            case ExecuTorchClassifier.FORMAT:
                return new ExecuTorchClassifier(context, quantization, threads);
            case LiteRtClassifier.FORMAT:
                return new LiteRtClassifier(context, quantization, threads);
            default:
                throw new IllegalArgumentException("this app runs executorch and tflite models, not " + format);
        }
    }

    static String runtimeName(String format) {
        return ExecuTorchClassifier.FORMAT.equals(format) ? "executorch" : "litert";
    }

    static String runtimeVersion(String format) {
        return ExecuTorchClassifier.FORMAT.equals(format) ? BuildConfig.EXECUTORCH_VERSION : BuildConfig.LITERT_VERSION;
    }
}
