package org.ondevice.core;

import java.util.Arrays;
import java.util.List;

/**
 * A {@link Classifier} over one model file of a bundle: everything but running the model, which a runtime-specific
 * subclass (ExecuTorch, LiteRT) supplies through {@link #openModel} and {@link #run}.
 */
public abstract class BundleClassifier implements Classifier {
    /** The model inputs this core makes; an artifact may list them in any order, token_type_ids optional. */
    public static final List<String> INPUTS = Arrays.asList("input_ids", "attention_mask", "token_type_ids");

    private final BundleSource source;
    private final String format;
    private final String quantization;
    private Bundle bundle;
    private Manifest.Artifact artifact;
    private double modelLoadMs = Double.NaN;

    /**
     * @param format the manifest's format name of the model file to use ("executorch", "tflite")
     * @param quantization which of that format's files ("int8-dynamic", ...), or null for the first
     */
    protected BundleClassifier(BundleSource source, String format, String quantization) {
        this.source = source;
        this.format = format;
        this.quantization = quantization;
    }

    /** Loads the model file, already checked against the manifest. */
    protected abstract void openModel(Bundle bundle, Manifest.Artifact artifact) throws BundleException;

    /**
     * Runs the model on one padded input of length {@code seqLen}; returns one logit per label. The token types are
     * all 0 for one text; a model whose artifact lists a token_type_ids input ({@link Manifest.Artifact#inputNames})
     * takes them as its third input, another model ignores them.
     */
    protected abstract float[] run(int[] inputIds, int[] attentionMask, int[] tokenTypeIds, int seqLen)
            throws Exception;

    /** Frees what {@link #openModel} loaded. */
    protected abstract void closeModel();

    @Override
    public final void load() throws BundleException {
        Bundle b = Bundle.open(source);
        Manifest.Artifact a = b.manifest().artifact(format, quantization);
        for (String name : a.inputNames) {
            if (!INPUTS.contains(name)) {
                throw new BundleException(a.file + " takes an input " + name + " that this app does not make (it"
                        + " makes " + String.join(", ", INPUTS) + "): update the app");
            }
        }
        b.verify(a.file);
        long t0 = System.nanoTime();
        openModel(b, a);
        modelLoadMs = (System.nanoTime() - t0) / 1e6;
        bundle = b;
        artifact = a;
    }

    /** Milliseconds the runtime took to load the model, the bundle checks not included. */
    public double modelLoadMs() {
        return modelLoadMs;
    }

    public Bundle bundle() {
        return requireLoaded();
    }

    public Manifest.Artifact artifact() {
        requireLoaded();
        return artifact;
    }

    /** The text's ids at the smallest of the model's lengths that holds it (the longest if none does). */
    public Tokenizer.Encoding encode(String text) {
        return requireLoaded().tokenizer().encode(text, artifact.seqLens);
    }

    /**
     * The pair's ids and token types at the smallest of the model's lengths that holds it (the longest if none does,
     * the longer text cut first).
     *
     * @throws BundleException when the bundle's model classifies one text (its manifest does not say text_pair)
     */
    public Tokenizer.Encoding encodePair(String text, String textPair) throws BundleException {
        Bundle b = requireLoaded();
        if (!b.manifest().textPair) {
            throw new BundleException("this model classifies one text, not a pair: its " + Manifest.FILE
                    + " does not say text_pair");
        }
        return b.tokenizer().encodePair(text, textPair, artifact.seqLens);
    }

    /** Logits for an encoding made by {@link #encode} or {@link #encodePair}. */
    public float[] logits(Tokenizer.Encoding e) throws Exception {
        requireLoaded();
        float[] out = run(e.inputIds, e.attentionMask, e.tokenTypeIds, e.seqLen);
        if (out.length != bundle.labels().size()) {
            throw new BundleException("the model gives " + out.length + " outputs for " + bundle.labels().size()
                    + " labels: the model and labels.json are from different exports");
        }
        return out;
    }

    /** Refuses a model file that lacks an entry point the manifest lists for it. */
    protected static void requireEntryPoints(Manifest.Artifact artifact, String kind, List<String> have)
            throws BundleException {
        for (String name : artifact.entryPoints.values()) {
            if (!have.contains(name)) {
                throw new BundleException(artifact.file + " has no " + kind + " " + name + " (it has " + have
                        + "): the model and " + Manifest.FILE + " are from different exports");
            }
        }
    }

    /** The three inputs in the order of the artifact's inputs, those it does not take left out. */
    protected final int[][] inputs(int[] inputIds, int[] attentionMask, int[] tokenTypeIds) {
        List<String> names = artifact().inputNames;
        int[][] out = new int[names.size()][];
        for (int i = 0; i < out.length; i++) {
            String name = names.get(i);
            out[i] = name.equals("input_ids") ? inputIds : name.equals("attention_mask") ? attentionMask : tokenTypeIds;
        }
        return out;
    }

    /** Token ids as the int64 values that a model exported with int64 inputs takes. */
    protected static long[] asLongs(int[] values) {
        long[] out = new long[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = values[i];
        }
        return out;
    }

    @Override
    public List<Result> classify(String text) throws Exception {
        return Predictions.of(logits(encode(text)), requireLoaded().manifest());
    }

    @Override
    public List<Result> classifyPair(String text, String textPair) throws Exception {
        return Predictions.of(logits(encodePair(text, textPair)), requireLoaded().manifest());
    }

    @Override
    public void close() {
        if (bundle != null) {
            closeModel();
            bundle = null;
            artifact = null;
        }
    }

    private Bundle requireLoaded() {
        if (bundle == null) {
            throw new IllegalStateException("load() the classifier first");
        }
        return bundle;
    }
}
