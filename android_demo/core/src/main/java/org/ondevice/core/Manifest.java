package org.ondevice.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/** The bundle manifest {@code ondevice.json}, as {@code ondevice export} writes it (ondevice/bundle.py). */
public final class Manifest {
    public static final String FILE = "ondevice.json";
    /** The manifest schema this app reads; the Python side's {@code ondevice.bundle.SCHEMA_VERSION}. */
    public static final int SCHEMA_VERSION = 1;

    /** Artifact formats and the file suffix each must have: the Python side's {@code ondevice.manifest.FORMATS}. */
    static final Map<String, String> FORMATS;

    static {
        Map<String, String> formats = new LinkedHashMap<>();
        formats.put("executorch", ".pte");
        formats.put("tflite", ".tflite");
        formats.put("onnx", ".onnx");
        FORMATS = Collections.unmodifiableMap(formats);
    }

    /** problem_type values: one label per text (softmax), or any number (a sigmoid and a threshold per label). */
    public static final String SINGLE_LABEL = "single_label_classification";
    public static final String MULTI_LABEL = "multi_label_classification";

    /** The labels file every bundle has; the app reads it and it must match {@link #labels}. */
    public static final String LABELS_FILE = "labels.json";

    private static final Pattern SHA256 = Pattern.compile("[0-9a-fA-F]{64}");

    /** One model file of the bundle. */
    public static final class Artifact {
        public final String file;
        public final String format;
        public final String quantization;
        public final String sha256;
        public final long sizeBytes;
        /** The fixed sequence lengths it carries, ascending. */
        public final List<Integer> seqLens;
        /** "int32" or "int64": the dtype of input_ids and attention_mask. */
        public final String inputDtype;
        /** The model's inputs in order: input_ids, attention_mask, and token_type_ids when it takes them. */
        public final List<String> inputNames;
        /** Method (ExecuTorch) or signature (LiteRT) name for each length. */
        public final Map<Integer, String> entryPoints;
        public final String runtimeVersion;
        /** The export's verification figures for this file (max |Δlogit|, label agreement, ...), or null. */
        public final Map<String, Object> verification;

        Artifact(Map<String, Object> a, String at) throws BundleException {
            file = fileName(a, "file", at + ".file");
            format = string(a, "format", at + ".format");
            String suffix = FORMATS.get(format);
            if (suffix == null) {
                throw invalid(at + ".format", "'" + shorten(format) + "' is not a known format (known: "
                        + String.join(", ", FORMATS.keySet()) + ")");
            }
            if (!file.endsWith(suffix)) {
                throw invalid(at + ".file", "'" + file + "' does not end in " + suffix + ", as " + format
                        + " artifacts must");
            }
            quantization = string(a, "quantization", at + ".quantization");
            sha256 = sha256(a, "sha256", at + ".sha256");
            sizeBytes = size(a, "size_bytes", at + ".size_bytes");
            List<Integer> lens = a.containsKey("seq_lens")
                    ? positiveInts(a, "seq_lens", at + ".seq_lens")
                    : Collections.singletonList((int) positive(a, "seq_len", at + ".seq_len"));
            lens = new ArrayList<>(lens);
            Collections.sort(lens);
            seqLens = Collections.unmodifiableList(lens);
            List<Object> inputs = list(a, "inputs", at + ".inputs");
            if (inputs.isEmpty()) {
                throw invalid(at + ".inputs", "must list the artifact's inputs");
            }
            String dtype = null;
            List<String> names = new ArrayList<>();
            for (int j = 0; j < inputs.size(); j++) {
                Map<String, Object> input = object(inputs.get(j), at + ".inputs[" + j + "]");
                names.add(string(input, "name", at + ".inputs[" + j + "].name"));
                String d = string(input, "dtype", at + ".inputs[" + j + "].dtype");
                if (!d.equals("int32") && !d.equals("int64")) {
                    throw invalid(at + ".inputs[" + j + "].dtype", "'" + shorten(d) + "' is not int32 or int64");
                }
                dtype = dtype == null ? d : dtype;
            }
            inputDtype = dtype;
            inputNames = Collections.unmodifiableList(names);
            Map<Integer, String> points = new LinkedHashMap<>();
            Object export = a.get("export");
            Object listed = export instanceof Map ? ((Map<?, ?>) export).get("entry_points") : null;
            String defaultEntryPoint = "tflite".equals(format) ? "serving_default" : "forward";
            for (int n : seqLens) {
                Object name = listed instanceof Map ? ((Map<?, ?>) listed).get(String.valueOf(n)) : null;
                // Without a list, the converters' rule: one length is "forward", several are "forward_<n>".
                String fallback = seqLens.size() == 1 ? defaultEntryPoint : defaultEntryPoint + "_" + n;
                points.put(n, name instanceof String ? (String) name : fallback);
            }
            entryPoints = Collections.unmodifiableMap(points);
            Object runtime = a.get("runtime");
            Object version = runtime instanceof Map ? ((Map<?, ?>) runtime).get("version") : null;
            runtimeVersion = version instanceof String ? (String) version : null;
            Object checked = a.get("verification");
            @SuppressWarnings("unchecked")
            Map<String, Object> figures = checked instanceof Map ? (Map<String, Object>) checked : null;
            verification = figures;
        }
    }

    public final int schemaVersion;
    public final List<String> labels;
    /** Whether any number of labels apply to a text: problem_type is multi_label_classification. */
    public final boolean multiLabel;
    /**
     * A multi-label model's decision thresholds, one per label in (0, 1): label i applies when the sigmoid of its
     * logit is above thresholds.get(i). Empty for a single-label model.
     */
    public final List<Double> thresholds;
    public final List<Integer> seqLens;
    public final Map<String, Object> tokenizer;
    /** Whether the model classifies a pair of texts: the tokenizer settings' text_pair, false when absent. */
    public final boolean textPair;
    /** Whether the model takes token types: the tokenizer settings' token_type_ids, false when absent. */
    public final boolean tokenTypeIds;
    /** The tokenizer's vocabulary and settings files: plain names inside the bundle, each checksummed. */
    public final String vocabFile;
    public final String settingsFile;
    public final List<Artifact> artifacts;
    /** Every file of the bundle: name to {sha256, size_bytes}. */
    public final Map<String, Object> files;
    public final Map<String, Object> raw;

    private Manifest(Map<String, Object> m) throws BundleException {
        raw = Collections.unmodifiableMap(m);
        schemaVersion = (int) Json.integer(m, "schema_version");
        List<Object> labelList = list(m, "labels", "labels");
        if (labelList.isEmpty()) {
            throw invalid("labels", "must list at least one label");
        }
        List<String> names = new ArrayList<>();
        for (int i = 0; i < labelList.size(); i++) {
            Object o = labelList.get(i);
            if (!(o instanceof String) || ((String) o).isEmpty()) {
                throw invalid("labels[" + i + "]", "must be a non-empty string, not " + Json.kind(o));
            }
            if (names.contains(o)) {
                throw invalid("labels", "lists a label twice");
            }
            names.add((String) o);
        }
        labels = Collections.unmodifiableList(names);
        multiLabel = problemType(m);
        thresholds = thresholds(m, multiLabel, labels.size());
        seqLens = Collections.unmodifiableList(positiveInts(m, "seq_lens", "seq_lens"));
        tokenizer = object(m.get("tokenizer"), "tokenizer");
        vocabFile = fileName(tokenizer, "vocab_file", "tokenizer.vocab_file");
        settingsFile = fileName(tokenizer, "settings_file", "tokenizer.settings_file");
        textPair = flag(tokenizer, "text_pair", "tokenizer.text_pair");
        tokenTypeIds = flag(tokenizer, "token_type_ids", "tokenizer.token_type_ids");
        if (!m.containsKey("files")) {
            throw new BundleException(FILE + ": files is missing: without the checksums of its files the bundle "
                    + "cannot be checked; export the bundle again");
        }
        files = object(m.get("files"), "files");
        for (Map.Entry<String, Object> e : files.entrySet()) {
            String name = e.getKey();
            if (!isPlainName(name)) {
                throw invalid("files key", "'" + shorten(name) + "' is not a plain file name inside the bundle (no "
                        + "directories, '..' or absolute paths)");
            }
            String at = "files['" + name + "']";
            Map<String, Object> facts = object(e.getValue(), at);
            sha256(facts, "sha256", at + ".sha256");
            size(facts, "size_bytes", at + ".size_bytes");
        }
        List<Object> list = list(m, "artifacts", "artifacts");
        if (list.isEmpty()) {
            throw invalid("artifacts", "must list at least one artifact");
        }
        List<Artifact> parsed = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            Artifact a = new Artifact(object(list.get(i), "artifacts[" + i + "]"), "artifacts[" + i + "]");
            boolean agrees = a.sha256.equalsIgnoreCase(sha256(a.file)) && a.sizeBytes == sizeBytes(a.file);
            if (files.containsKey(a.file) && !agrees) {
                throw invalid("artifacts[" + i + "]", "(" + a.file + ") has a sha256 or size that disagrees with "
                        + "files['" + a.file + "']");
            }
            parsed.add(a);
        }
        artifacts = Collections.unmodifiableList(parsed);
        // Every file the bundle uses must be covered by a checksum; nothing unchecked is ever read.
        Map<String, String> used = new LinkedHashMap<>();
        for (int i = 0; i < artifacts.size(); i++) {
            used.put(artifacts.get(i).file, "artifacts[" + i + "].file");
        }
        used.put(vocabFile, "tokenizer.vocab_file");
        used.put(settingsFile, "tokenizer.settings_file");
        used.put(LABELS_FILE, "the labels file");
        for (Map.Entry<String, String> e : used.entrySet()) {
            if (!files.containsKey(e.getKey())) {
                throw invalid("files", "has no checksum for " + e.getKey() + " (" + e.getValue() + "); every file "
                        + "the bundle uses must be listed");
            }
        }
    }

    /**
     * Reads the manifest's text and checks it against the schema: the field at fault is named, e.g.
     * "ondevice.json: artifacts[1].file must be a string, not an array; export the bundle again". The schema
     * version is checked before anything else, so a manifest from an incompatible release is refused as such, not
     * as a missing field. Every file name must be a plain name inside the bundle, and every file the bundle uses
     * (each artifact, the vocabulary, the tokenizer settings, labels.json) must have a checksum in "files".
     */
    public static Manifest parse(String text) throws BundleException {
        Object doc;
        try {
            doc = Json.parse(text);
        } catch (Json.JsonException e) {
            throw new BundleException(FILE + " is not valid JSON (" + e.getMessage() + "): the bundle is damaged; "
                    + "export it again");
        }
        if (!(doc instanceof Map)) {
            throw new BundleException(FILE + " is not a JSON object: the bundle is damaged; export it again");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> m = (Map<String, Object>) doc;
        Object version = m.get("schema_version");
        if (!(version instanceof Long) || (Long) version != SCHEMA_VERSION) {
            throw new BundleException(FILE + " has schema version " + (version == null ? "(none)" : version)
                    + ", but this app reads version " + SCHEMA_VERSION
                    + ": export the bundle with an ondevice release that writes version " + SCHEMA_VERSION
                    + ", or update the app");
        }
        try {
            return new Manifest(m);
        } catch (Json.JsonException | ClassCastException e) {
            throw new BundleException(FILE + " is incomplete (" + e.getMessage() + "): export the bundle again");
        }
    }

    /** True for a bare file name: not empty, "." or "..", no '/' or '\', no control characters. */
    public static boolean isPlainName(String name) {
        if (name == null || name.isEmpty() || name.equals(".") || name.equals("..") || name.length() > 255) {
            return false;
        }
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (c == '/' || c == '\\' || c < 0x20 || c == 0x7F) {
                return false;
            }
        }
        return true;
    }

    // ---- field checks that name the field: "ondevice.json: <field> <problem>; export the bundle again" ----

    private static BundleException invalid(String field, String problem) {
        return new BundleException(FILE + ": " + field + " " + problem + "; export the bundle again");
    }

    private static String shorten(String s) {
        return s.length() > 60 ? s.substring(0, 60) + "..." : s;
    }

    /** problem_type: single-label when absent (a bundle written before multi-label), else one of the two. */
    private static boolean problemType(Map<String, Object> m) throws BundleException {
        Object v = m.get("problem_type");
        if (v == null && !m.containsKey("problem_type")) {
            return false;
        }
        if (!SINGLE_LABEL.equals(v) && !MULTI_LABEL.equals(v)) {
            throw invalid("problem_type", "must be " + SINGLE_LABEL + " or " + MULTI_LABEL + ", not "
                    + (v instanceof String ? "'" + shorten((String) v) + "'" : Json.kind(v)));
        }
        return MULTI_LABEL.equals(v);
    }

    /** thresholds: one number in (0, 1) per label for a multi-label model; none for any other. */
    private static List<Double> thresholds(Map<String, Object> m, boolean multiLabel, int numLabels)
            throws BundleException {
        if (!multiLabel) {
            if (m.containsKey("thresholds")) {
                throw invalid("thresholds", "apply to " + MULTI_LABEL + " only, but problem_type is " + SINGLE_LABEL);
            }
            return Collections.emptyList();
        }
        List<Object> values = list(m, "thresholds", "thresholds");
        if (values.size() != numLabels) {
            throw invalid("thresholds", "lists " + values.size() + " thresholds for the " + numLabels + " labels");
        }
        List<Double> out = new ArrayList<>();
        for (int i = 0; i < values.size(); i++) {
            Object v = values.get(i);
            double t = v instanceof Number ? ((Number) v).doubleValue() : Double.NaN;
            if (!(t > 0 && t < 1)) {
                throw invalid("thresholds[" + i + "]", "must be a number between 0 and 1 (exclusive), not "
                        + (v instanceof Number ? String.valueOf(v) : Json.kind(v)));
            }
            out.add(t);
        }
        return Collections.unmodifiableList(out);
    }

    private static Object required(Map<String, Object> map, String key, String field) throws BundleException {
        if (!map.containsKey(key)) {
            throw invalid(field, "is missing");
        }
        return map.get(key);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> object(Object v, String field) throws BundleException {
        if (!(v instanceof Map)) {
            throw invalid(field, v == null ? "is missing" : "must be an object, not " + Json.kind(v));
        }
        return (Map<String, Object>) v;
    }

    @SuppressWarnings("unchecked")
    private static List<Object> list(Map<String, Object> map, String key, String field) throws BundleException {
        Object v = required(map, key, field);
        if (!(v instanceof List)) {
            throw invalid(field, "must be a list, not " + Json.kind(v));
        }
        return (List<Object>) v;
    }

    private static String string(Map<String, Object> map, String key, String field) throws BundleException {
        Object v = required(map, key, field);
        if (!(v instanceof String)) {
            throw invalid(field, "must be a string, not " + Json.kind(v));
        }
        return (String) v;
    }

    /** A true/false setting that older bundles lack: false when absent. */
    private static boolean flag(Map<String, Object> map, String key, String field) throws BundleException {
        Object v = map.get(key);
        if (v != null && !(v instanceof Boolean)) {
            throw invalid(field, "must be true or false, not " + Json.kind(v));
        }
        return Boolean.TRUE.equals(v);
    }

    private static String fileName(Map<String, Object> map, String key, String field) throws BundleException {
        String name = string(map, key, field);
        if (!isPlainName(name)) {
            throw invalid(field, "'" + shorten(name) + "' is not a plain file name inside the bundle (no directories, "
                    + "'..' or absolute paths)");
        }
        return name;
    }

    private static String sha256(Map<String, Object> map, String key, String field) throws BundleException {
        String v = string(map, key, field);
        if (!SHA256.matcher(v).matches()) {
            throw invalid(field, "must be a sha256 of 64 hexadecimal digits");
        }
        return v.toLowerCase(Locale.ROOT);
    }

    private static long size(Map<String, Object> map, String key, String field) throws BundleException {
        Object v = required(map, key, field);
        if (!(v instanceof Long) || (Long) v < 0) {
            throw invalid(field, "must be a non-negative integer, not " + Json.kind(v));
        }
        return (Long) v;
    }

    private static long positive(Map<String, Object> map, String key, String field) throws BundleException {
        Object v = required(map, key, field);
        if (!(v instanceof Long) || (Long) v < 1 || (Long) v > Integer.MAX_VALUE) {
            throw invalid(field, "must be a positive integer, not " + Json.kind(v));
        }
        return (Long) v;
    }

    private static List<Integer> positiveInts(Map<String, Object> map, String key, String field)
            throws BundleException {
        List<Object> values = list(map, key, field);
        if (values.isEmpty()) {
            throw invalid(field, "must list at least one length");
        }
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < values.size(); i++) {
            Object v = values.get(i);
            if (!(v instanceof Long) || (Long) v < 1 || (Long) v > Integer.MAX_VALUE) {
                throw invalid(field + "[" + i + "]", "must be a positive integer, not " + Json.kind(v));
            }
            out.add(((Long) v).intValue());
        }
        return out;
    }

    /** The first artifact of the given format (and quantization, when not null). */
    public Artifact artifact(String format, String quantization) throws BundleException {
        StringBuilder have = new StringBuilder();
        for (Artifact a : artifacts) {
            if (a.format.equals(format) && (quantization == null || a.quantization.equals(quantization))) {
                return a;
            }
            have.append(have.length() == 0 ? "" : ", ").append(a.format).append(' ').append(a.quantization);
        }
        throw new BundleException("the bundle has no " + format + (quantization == null ? "" : " " + quantization)
                + " model (it has: " + (have.length() == 0 ? "none" : have) + ")");
    }

    /** The sha256 and size the manifest records for a file, or null when it is not listed. */
    public String sha256(String name) {
        Object facts = files.get(name);
        Object sha = facts instanceof Map ? ((Map<?, ?>) facts).get("sha256") : null;
        return sha instanceof String ? (String) sha : null;
    }

    public long sizeBytes(String name) {
        Object facts = files.get(name);
        Object size = facts instanceof Map ? ((Map<?, ?>) facts).get("size_bytes") : null;
        return size instanceof Long ? (Long) size : -1;
    }
}
