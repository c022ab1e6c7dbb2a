package org.ondevice.core;

import java.io.ByteArrayOutputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * An exported bundle opened for use: its manifest, labels and tokenizer, every file checked against the manifest's
 * size and sha256 before it is used.
 */
public final class Bundle {
    /** Real manifests take a few KB; a larger one is refused unread, as on the Python side. */
    static final long MAX_MANIFEST_BYTES = 16L << 20;

    private final BundleSource source;
    private final Manifest manifest;
    private final List<String> labels;
    private final Tokenizer tokenizer;

    private Bundle(BundleSource source, Manifest manifest, List<String> labels, Tokenizer tokenizer) {
        this.source = source;
        this.manifest = manifest;
        this.labels = labels;
        this.tokenizer = tokenizer;
    }

    public Manifest manifest() {
        return manifest;
    }

    public List<String> labels() {
        return labels;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    public BundleSource source() {
        return source;
    }

    /** Reads and checks the manifest, labels.json and the tokenizer files. Model files are checked by {@link #verify}. */
    public static Bundle open(BundleSource source) throws BundleException {
        String manifestText;
        try {
            manifestText = new String(readAll(source, Manifest.FILE, MAX_MANIFEST_BYTES), StandardCharsets.UTF_8);
        } catch (FileNotFoundException e) {
            throw new BundleException("no " + Manifest.FILE + " in " + source.location() + ": it is not an ondevice "
                    + "bundle; make one with `ondevice export --target android --copy-to <assets dir>`");
        } catch (IOException e) {
            throw new BundleException(Manifest.FILE + " cannot be read (" + e.getMessage() + ")", e);
        }
        Manifest manifest = Manifest.parse(manifestText);
        List<String> labels = readLabels(source, manifest);
        Tokenizer tokenizer = readTokenizer(source, manifest);
        return new Bundle(source, manifest, labels, tokenizer);
    }

    /** Checks a listed file's size and sha256 against the manifest; returns the sha256. */
    public String verify(String name) throws BundleException {
        requireListed(manifest, name);
        MessageDigest digest = sha256();
        long size = 0;
        byte[] buf = new byte[1 << 16];
        try (InputStream in = openListed(source, name)) {
            for (int n; (n = in.read(buf)) > 0; ) {
                digest.update(buf, 0, n);
                size += n;
            }
        } catch (IOException e) {
            throw new BundleException(name + " cannot be read (" + e.getMessage() + ")", e);
        }
        String actual = hex(digest.digest());
        check(manifest, name, size, actual);
        return actual;
    }

    private static InputStream openListed(BundleSource source, String name) throws BundleException, IOException {
        try {
            return source.open(name);
        } catch (FileNotFoundException e) {
            throw new BundleException(name + " is missing from " + source.location() + " although " + Manifest.FILE
                    + " lists it: copy the whole bundle (`ondevice export --target android --copy-to <assets dir>`)");
        }
    }

    private static void requireListed(Manifest manifest, String name) throws BundleException {
        if (manifest.sha256(name) == null) {
            throw new BundleException(name + " is not listed in " + Manifest.FILE + ": the bundle is damaged; "
                    + "export it again");
        }
    }

    /** Size first (a truncated copy says so), then the sha256. */
    private static void check(Manifest manifest, String name, long size, String sha256) throws BundleException {
        long expectedSize = manifest.sizeBytes(name);
        if (size != expectedSize) {
            throw new BundleException(name + " has " + size + " bytes but " + Manifest.FILE + " says " + expectedSize
                    + ": the file is truncated or was replaced; export the bundle again");
        }
        if (!sha256.equals(manifest.sha256(name))) {
            throw new BundleException(name + " does not match its sha256 in " + Manifest.FILE
                    + ": the file is corrupt or was changed; export the bundle again");
        }
    }

    /** A listed file's bytes, after checking them against the manifest. */
    private static byte[] readVerified(BundleSource source, Manifest manifest, String name) throws BundleException {
        requireListed(manifest, name);
        byte[] data;
        long expectedSize = manifest.sizeBytes(name);
        try (InputStream in = openListed(source, name)) {
            data = readStream(in, expectedSize); // never more than the manifest promises
        } catch (IOException e) {
            throw new BundleException(name + " cannot be read (" + e.getMessage() + ")", e);
        }
        if (data == null) {
            throw new BundleException(name + " has more bytes than " + Manifest.FILE + " says (" + expectedSize
                    + "): the file was replaced; export the bundle again");
        }
        check(manifest, name, data.length, hex(sha256().digest(data)));
        return data;
    }

    private static List<String> readLabels(BundleSource source, Manifest manifest) throws BundleException {
        String text = new String(readVerified(source, manifest, Manifest.LABELS_FILE), StandardCharsets.UTF_8);
        List<String> labels = new ArrayList<>();
        try {
            Object doc = Json.parse(text);
            if (!(doc instanceof List)) {
                throw new Json.JsonException("not a list");
            }
            for (Object o : (List<?>) doc) {
                labels.add((String) o);
            }
        } catch (Json.JsonException | ClassCastException e) {
            throw new BundleException("labels.json is not a list of label names: export the bundle again");
        }
        if (!labels.equals(manifest.labels)) {
            throw new BundleException("labels.json " + labels + " disagrees with " + Manifest.FILE + "'s labels "
                    + manifest.labels + ": export the bundle again");
        }
        return labels;
    }

    private static Tokenizer readTokenizer(BundleSource source, Manifest manifest) throws BundleException {
        Map<String, Object> t = manifest.tokenizer;
        WordPieceTokenizer.Settings s = new WordPieceTokenizer.Settings();
        try {
            s.lowercase = Json.bool(t, "lowercase", true);
            s.stripAccents = Json.bool(t, "strip_accents", s.lowercase); // null: strip when lower-casing
            s.handleChineseChars = Json.bool(t, "tokenize_chinese_chars", true);
            s.clsId = (int) Json.integer(t, "cls_id");
            s.sepId = (int) Json.integer(t, "sep_id");
            s.padId = (int) Json.integer(t, "pad_id");
            if (t.get("unk_id") != null) { // byte-level BPE has none
                s.unkId = (int) Json.integer(t, "unk_id");
            }
            if (t.get("max_input_chars_per_word") != null) {
                s.maxInputCharsPerWord = (int) Json.integer(t, "max_input_chars_per_word");
            }
            if (t.get("continuing_subword_prefix") != null) {
                s.continuingSubwordPrefix = Json.string(t, "continuing_subword_prefix");
            }
        } catch (Json.JsonException e) {
            throw new BundleException(Manifest.FILE + ": tokenizer settings are incomplete (" + e.getMessage()
                    + "): export the bundle again");
        }
        // Bundles written before there were other kinds hold WordPiece.
        String kind = t.get("kind") instanceof String ? (String) t.get("kind") : "WordPiece";
        // The Python side reads tokenizer.json when the bundle has it, and vocab.txt otherwise; so does this.
        if (manifest.sha256(TokenizerJson.FILE) != null) {
            String text = new String(readVerified(source, manifest, TokenizerJson.FILE), StandardCharsets.UTF_8);
            return TokenizerJson.read(text, s, kind);
        }
        if (!kind.equals("WordPiece")) {
            throw new BundleException("a " + kind + " tokenizer is read from " + TokenizerJson.FILE + ", which "
                    + Manifest.FILE + " does not list: export the bundle again");
        }
        String text = new String(readVerified(source, manifest, manifest.vocabFile), StandardCharsets.UTF_8);
        Map<String, Integer> vocab = new HashMap<>();
        String[] lines = text.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            String tok = lines[i].endsWith("\r") ? lines[i].substring(0, lines[i].length() - 1) : lines[i];
            if (i == lines.length - 1 && tok.isEmpty()) {
                break; // the final newline
            }
            vocab.put(tok, i);
        }
        // The Python fallback (tokenizers' BertWordPieceTokenizer) matches these in the text when the vocab has them.
        List<WordPieceTokenizer.AddedToken> added = new ArrayList<>();
        for (String special : new String[] {"[SEP]", "[CLS]", "[UNK]", "[PAD]", "[MASK]"}) {
            if (vocab.containsKey(special)) {
                added.add(new WordPieceTokenizer.AddedToken(special, vocab.get(special), false, false));
            }
        }
        return new WordPieceTokenizer(vocab, s, added);
    }

    static byte[] readAll(BundleSource source, String name, long limit) throws IOException {
        try (InputStream in = source.open(name)) {
            byte[] data = readStream(in, limit);
            if (data == null) {
                throw new IOException("more than " + limit + " bytes, far too large for it");
            }
            return data;
        }
    }

    private static byte[] readStream(InputStream in) throws IOException {
        return readStream(in, Long.MAX_VALUE);
    }

    /** The stream's bytes, or null when it holds more than {@code limit}. */
    private static byte[] readStream(InputStream in, long limit) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[1 << 16];
        for (int n; (n = in.read(buf)) > 0; ) {
            if (out.size() + (long) n > limit) {
                return null;
            }
            out.write(buf, 0, n);
        }
        return out.toByteArray();
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this Java has no SHA-256", e);
        }
    }

    static String hex(byte[] bytes) {
        StringBuilder sb = new StringBuilder(bytes.length * 2);
        for (byte b : bytes) {
            sb.append(Character.forDigit((b >> 4) & 0xF, 16)).append(Character.forDigit(b & 0xF, 16));
        }
        return sb.toString();
    }
}
