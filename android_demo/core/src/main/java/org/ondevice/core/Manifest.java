package org.ondevice.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The bundle manifest {@code ondevice.json}, as {@code ondevice export} writes it (ondevice/bundle.py). */
public final class Manifest {
    public static final String FILE = "ondevice.json";
    /** The manifest schema this app reads; the Python side's {@code ondevice.bundle.SCHEMA_VERSION}. */
    public static final int SCHEMA_VERSION = 1;

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
        /** Method (ExecuTorch) or signature (LiteRT) name for each length. */
        public final Map<Integer, String> entryPoints;
        public final String runtimeVersion;
        /** The export's verification figures for this file (max |Δlogit|, label agreement, ...), or null. */
        public final Map<String, Object> verification;

        Artifact(Map<String, Object> a, String defaultEntryPoint) {
            file = Json.string(a, "file");
            format = Json.string(a, "format");
            quantization = Json.string(a, "quantization");
            sha256 = Json.string(a, "sha256");
            sizeBytes = Json.integer(a, "size_bytes");
            List<Integer> lens = new ArrayList<>();
            for (Object o : a.containsKey("seq_lens") ? Json.array(a, "seq_lens") : listOf(a.get("seq_len"))) {
                if (!(o instanceof Long)) {
                    throw new Json.JsonException("artifact " + file + ": sequence lengths must be integers");
                }
                lens.add(((Long) o).intValue());
            }
            Collections.sort(lens);
            seqLens = Collections.unmodifiableList(lens);
            List<Object> inputs = Json.array(a, "inputs");
            if (inputs.isEmpty() || !(inputs.get(0) instanceof Map)) {
                throw new Json.JsonException("artifact " + file + ": no inputs listed");
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> first = (Map<String, Object>) inputs.get(0);
            inputDtype = Json.string(first, "dtype");
            Map<Integer, String> points = new LinkedHashMap<>();
            Object export = a.get("export");
            Object listed = export instanceof Map ? ((Map<?, ?>) export).get("entry_points") : null;
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

        private static List<Object> listOf(Object o) {
            List<Object> l = new ArrayList<>();
            l.add(o);
            return l;
        }
    }

    public final int schemaVersion;
    public final List<String> labels;
    public final List<Integer> seqLens;
    public final Map<String, Object> tokenizer;
    public final List<Artifact> artifacts;
    /** Every file of the bundle: name to {sha256, size_bytes}. */
    public final Map<String, Object> files;
    public final Map<String, Object> raw;

    private Manifest(Map<String, Object> m) {
        raw = Collections.unmodifiableMap(m);
        schemaVersion = (int) Json.integer(m, "schema_version");
        labels = Json.strings(m, "labels");
        List<Integer> lens = new ArrayList<>();
        for (Object o : Json.array(m, "seq_lens")) {
            lens.add(((Number) o).intValue());
        }
        seqLens = Collections.unmodifiableList(lens);
        tokenizer = Json.object(m, "tokenizer");
        files = Json.object(m, "files");
        List<Artifact> list = new ArrayList<>();
        for (Object o : Json.array(m, "artifacts")) {
            if (!(o instanceof Map)) {
                throw new Json.JsonException("\"artifacts\" holds something that is not an object");
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> a = (Map<String, Object>) o;
            String format = Json.string(a, "format");
            list.add(new Artifact(a, "tflite".equals(format) ? "serving_default" : "forward"));
        }
        artifacts = Collections.unmodifiableList(list);
    }

    /**
     * Reads the manifest's text. The schema version is checked before anything else, so a manifest from an
     * incompatible release is refused as such, not as a missing field.
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
