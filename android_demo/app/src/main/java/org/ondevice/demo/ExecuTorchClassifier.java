package org.ondevice.demo;

import android.content.Context;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.Arrays;
import org.ondevice.core.Bundle;
import org.ondevice.core.BundleClassifier;
import org.ondevice.core.BundleException;
import org.ondevice.core.Manifest;
import org.pytorch.executorch.EValue;
import org.pytorch.executorch.Module;
import org.pytorch.executorch.Tensor;

/**
 * The bundle's ExecuTorch program (.pte, XNNPACK), one method per sequence length ("forward_32", ...).
 *
 * <p>ExecuTorch loads from a file path, not from an asset, so the checked .pte is copied once into the app's files
 * under a name that carries its sha256, and memory-mapped from there.
 */
public final class ExecuTorchClassifier extends BundleClassifier {
    public static final String FORMAT = "executorch";

    private final Context context;
    private final int threads;
    private Module module;
    private boolean int64;

    /** @param quantization which of the bundle's .pte files ("int8-dynamic", ...); null for the first */
    public ExecuTorchClassifier(Context context, String quantization, int threads) {
        super(new AssetSource(context.getAssets()), FORMAT, quantization);
        this.context = context;
        this.threads = threads;
    }

    @Override
    protected void openModel(Bundle bundle, Manifest.Artifact artifact) throws BundleException {
        File file = localCopy(artifact);
        try {
            module = Module.load(file.getAbsolutePath(), Module.LOAD_MODE_MMAP, threads);
        } catch (RuntimeException e) {
            throw new BundleException(artifact.file + ": ExecuTorch cannot load it (" + e.getMessage() + ")", e);
        }
        requireEntryPoints(artifact, "method", Arrays.asList(module.getMethods()));
        for (String name : artifact.entryPoints.values()) {
            try {
                module.loadMethod(name); // now rather than on the first text
            } catch (RuntimeException e) {
                throw new BundleException(artifact.file + ": ExecuTorch cannot load its method " + name + " ("
                        + e.getMessage() + ")", e);
            }
        }
        int64 = "int64".equals(artifact.inputDtype);
    }

    private File localCopy(Manifest.Artifact artifact) throws BundleException {
        File dir = new File(context.getFilesDir(), "models");
        File file = new File(dir, artifact.sha256.substring(0, 16) + "-" + artifact.file);
        if (file.isFile() && file.length() == artifact.sizeBytes) {
            return file; // named by the checked content: the same bytes as the asset
        }
        File tmp = new File(dir, file.getName() + ".tmp");
        try {
            if (!dir.isDirectory() && !dir.mkdirs()) {
                throw new IOException("cannot create " + dir);
            }
            try (InputStream in = context.getAssets().open(AssetSource.path(artifact.file));
                    OutputStream out = new FileOutputStream(tmp)) {
                byte[] buf = new byte[1 << 16];
                for (int n; (n = in.read(buf)) > 0; ) {
                    out.write(buf, 0, n);
                }
            }
            if (!tmp.renameTo(file)) {
                throw new IOException("cannot rename " + tmp + " to " + file);
            }
        } catch (IOException e) {
            //noinspection ResultOfMethodCallIgnored
            tmp.delete();
            throw new BundleException("cannot copy " + artifact.file + " out of the assets (" + e.getMessage()
                    + "); is the storage full?", e);
        }
        return file;
    }

    @Override
    protected float[] run(int[] inputIds, int[] attentionMask, int[] tokenTypeIds, int seqLen) {
        long[] shape = {1, seqLen};
        // Positional, in the order of the manifest's inputs: token_type_ids only when the model takes them.
        int[][] values = inputs(inputIds, attentionMask, tokenTypeIds);
        EValue[] args = new EValue[values.length];
        for (int i = 0; i < values.length; i++) {
            Tensor t = int64 ? Tensor.fromBlob(asLongs(values[i]), shape) : Tensor.fromBlob(values[i], shape);
            args[i] = EValue.from(t);
        }
        String method = artifact().entryPoints.get(seqLen);
        EValue[] out = module.execute(method, args);
        return out[0].toTensor().getDataAsFloatArray();
    }

    @Override
    protected void closeModel() {
        if (module != null) {
            module.destroy();
            module = null;
        }
    }
}
