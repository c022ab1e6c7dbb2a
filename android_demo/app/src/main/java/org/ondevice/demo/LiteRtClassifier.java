package org.ondevice.demo;

import android.content.res.AssetFileDescriptor;
import java.io.FileInputStream;
import java.io.IOException;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.ondevice.core.Bundle;
import org.ondevice.core.BundleClassifier;
import org.ondevice.core.BundleException;
import org.ondevice.core.Manifest;
import org.tensorflow.lite.DataType;
import org.tensorflow.lite.Interpreter;
import org.tensorflow.lite.Tensor;

/**
 * The bundle's LiteRT model (.tflite), one signature per sequence length ("serving_default_32", ...), memory-mapped
 * from the APK: the build stores .tflite assets uncompressed (app/build.gradle, androidResources.noCompress).
 */
public final class LiteRtClassifier extends BundleClassifier {
    public static final String FORMAT = "tflite";

    private final AssetSource assets;
    private final int threads;
    private Interpreter interpreter;
    private boolean int64;

    /** @param quantization which of the bundle's .tflite files ("int8-dynamic", ...); null for the first */
    public LiteRtClassifier(android.content.Context context, String quantization, int threads) {
        this(new AssetSource(context.getAssets()), quantization, threads);
    }

    private LiteRtClassifier(AssetSource assets, String quantization, int threads) {
        super(assets, FORMAT, quantization);
        this.assets = assets;
        this.threads = threads;
    }

    @Override
    protected void openModel(Bundle bundle, Manifest.Artifact artifact) throws BundleException {
        MappedByteBuffer model;
        try (AssetFileDescriptor fd = assets.assets().openFd(AssetSource.path(artifact.file));
                FileInputStream in = new FileInputStream(fd.getFileDescriptor())) {
            model = in.getChannel().map(FileChannel.MapMode.READ_ONLY, fd.getStartOffset(), fd.getDeclaredLength());
        } catch (IOException e) {
            throw new BundleException(artifact.file + " cannot be memory-mapped from the APK (" + e.getMessage()
                    + "); build the app with androidResources { noCompress \"tflite\" }", e);
        }
        try {
            interpreter = new Interpreter(model, new Interpreter.Options().setNumThreads(threads));
        } catch (IllegalArgumentException | IllegalStateException e) {
            throw new BundleException(artifact.file + ": LiteRT cannot load it (" + e.getMessage() + ")", e);
        }
        requireEntryPoints(artifact, "signature", Arrays.asList(interpreter.getSignatureKeys()));
        int64 = "int64".equals(artifact.inputDtype);
    }

    @Override
    protected float[] run(int[] inputIds, int[] attentionMask, int[] tokenTypeIds, int seqLen) {
        String key = artifact().entryPoints.get(seqLen);
        // By name, the manifest's inputs: token_type_ids only when the model takes them.
        List<String> names = artifact().inputNames;
        int[][] values = inputs(inputIds, attentionMask, tokenTypeIds);
        Map<String, Object> inputs = new HashMap<>();
        for (int i = 0; i < values.length; i++) {
            inputs.put(names.get(i), int64 ? new long[][] {asLongs(values[i])} : new int[][] {values[i]});
        }
        String outputName = interpreter.getSignatureOutputs(key)[0];
        Tensor output = interpreter.getOutputTensorFromSignature(outputName, key);
        int labels = output.shape()[1];
        Map<String, Object> outputs = new HashMap<>();
        if (output.dataType() == DataType.FLOAT32) {
            float[][] logits = new float[1][labels];
            outputs.put(outputName, logits);
            interpreter.runSignature(inputs, outputs, key);
            return logits[0];
        }
        // A fully integer model gives int8 logits: dequantize with the tensor's own scale and zero point.
        byte[][] q = new byte[1][labels];
        outputs.put(outputName, q);
        interpreter.runSignature(inputs, outputs, key);
        Tensor.QuantizationParams p = output.quantizationParams();
        float[] logits = new float[labels];
        for (int i = 0; i < labels; i++) {
            logits[i] = (q[0][i] - p.getZeroPoint()) * p.getScale();
        }
        return logits;
    }

    @Override
    protected void closeModel() {
        if (interpreter != null) {
            interpreter.close();
            interpreter = null;
        }
    }
}
