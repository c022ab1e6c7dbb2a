package org.ondevice.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.junit.Before;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/** A real exported bundle, read as the app reads it, and every kind of damage refused with a message for the screen. */
public class BundleTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    private File dir;
    private Map<String, Object> facts;

    @Before
    @SuppressWarnings("unchecked")
    public void copyBundle() throws Exception {
        dir = tmp.newFolder("bundle");
        File[] files = Golden.bundle().listFiles();
        assertTrue("the golden bundle is empty", files != null && files.length > 0);
        for (File f : files) {
            Files.copy(f.toPath(), new File(dir, f.getName()).toPath(), StandardCopyOption.REPLACE_EXISTING);
        }
        facts = (Map<String, Object>) Json.parse(text(new File(Golden.dir(), "bundle_facts.json")));
    }

    private static String text(File f) throws IOException {
        return new String(Files.readAllBytes(f.toPath()), StandardCharsets.UTF_8);
    }

    private String modelFile() {
        return Json.string(facts, "file");
    }

    private Bundle open() throws BundleException {
        return Bundle.open(new DirectorySource(dir));
    }

    private String refusal() {
        try {
            Bundle b = open();
            b.verify(modelFile());
        } catch (BundleException e) {
            return e.getMessage();
        }
        fail("the damaged bundle was accepted");
        return null;
    }

    @Test
    public void readsWhatPythonWrote() throws Exception {
        Bundle b = open();
        assertEquals(Json.strings(facts, "labels"), b.labels());
        Manifest.Artifact a = b.manifest().artifact(Json.string(facts, "format"), null);
        assertEquals(modelFile(), a.file);
        assertEquals(Json.array(facts, "seq_lens").size(), a.seqLens.size());
        for (int i = 0; i < a.seqLens.size(); i++) {
            assertEquals(((Long) Json.array(facts, "seq_lens").get(i)).intValue(), (int) a.seqLens.get(i));
        }
        assertEquals(Json.string(facts, "sha256"), b.verify(a.file));
        assertEquals(Json.integer(facts, "vocab_size"), b.tokenizer().vocabSize());
    }

    @Test
    public void missingModelFile() {
        assertTrue(new File(dir, modelFile()).delete());
        String m = refusal();
        assertTrue(m, m.startsWith(modelFile() + " is missing from " + dir.getPath()));
    }

    @Test
    public void missingManifest() {
        assertTrue(new File(dir, Manifest.FILE).delete());
        String m = refusal();
        assertTrue(m, m.startsWith("no ondevice.json in " + dir.getPath() + ": it is not an ondevice bundle"));
    }

    @Test
    public void corruptManifest() throws Exception {
        String t = text(new File(dir, Manifest.FILE));
        write(Manifest.FILE, t.substring(0, t.length() / 2));
        String m = refusal();
        assertTrue(m, m.startsWith("ondevice.json is not valid JSON ("));
        assertTrue(m, m.endsWith("the bundle is damaged; export it again"));
    }

    @Test
    public void modelChangedInPlace() throws Exception {
        try (RandomAccessFile f = new RandomAccessFile(new File(dir, modelFile()), "rw")) {
            f.seek(f.length() / 2);
            int b = f.read();
            f.seek(f.length() / 2);
            f.write(b ^ 0xFF);
        }
        String m = refusal();
        assertEquals(modelFile() + " does not match its sha256 in ondevice.json: the file is corrupt or was changed; "
                + "export the bundle again", m);
    }

    @Test
    public void modelTruncated() throws Exception {
        File f = new File(dir, modelFile());
        long size = f.length();
        try (RandomAccessFile r = new RandomAccessFile(f, "rw")) {
            r.setLength(size - 100);
        }
        String m = refusal();
        assertTrue(m, m.startsWith(modelFile() + " has " + (size - 100) + " bytes but ondevice.json says " + size));
    }

    @Test
    public void manifestFromAnotherVersion() throws Exception {
        String t = text(new File(dir, Manifest.FILE));
        write(Manifest.FILE, t.replaceFirst("\"schema_version\": 1", "\"schema_version\": 2"));
        String m = refusal();
        assertTrue(m, m.startsWith("ondevice.json has schema version 2, but this app reads version 1"));
    }

    @Test
    public void labelsChanged() throws Exception {
        List<String> labels = new ArrayList<>(Json.strings(facts, "labels"));
        Collections.reverse(labels); // same size, other content
        write("labels.json", Json.write(labels));
        String m = refusal();
        assertTrue(m, m.startsWith("labels.json does not match its sha256 in ondevice.json"));
    }

    @Test
    public void formatNotInBundle() throws Exception {
        try {
            open().manifest().artifact("no-such-format", null);
            fail("accepted");
        } catch (BundleException e) {
            assertTrue(e.getMessage(), e.getMessage().startsWith("the bundle has no no-such-format model (it has: "));
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    public void tokenizerOfAnotherKind() throws Exception {
        File tj = new File(dir, TokenizerJson.FILE);
        Map<String, Object> doc = (Map<String, Object>) Json.parse(text(tj));
        ((Map<String, Object>) doc.get("normalizer")).put("type", "NFKC");
        write(TokenizerJson.FILE, Json.write(doc));
        // A consistent bundle around it, so that the tokenizer itself is what is refused.
        Map<String, Object> manifest = (Map<String, Object>) Json.parse(text(new File(dir, Manifest.FILE)));
        Map<String, Object> entry = (Map<String, Object>) ((Map<String, Object>) manifest.get("files")).get(tj.getName());
        byte[] bytes = Files.readAllBytes(tj.toPath());
        entry.put("sha256", Bundle.hex(MessageDigest.getInstance("SHA-256").digest(bytes)));
        entry.put("size_bytes", (long) bytes.length);
        write(Manifest.FILE, Json.write(manifest));
        String m = refusal();
        assertEquals("tokenizer.json cannot be used: its normalizer is NFKC; this app implements BertNormalizer only", m);
    }

    /** The golden bundle's manifest, as exported: each change starts from it. */
    @SuppressWarnings("unchecked")
    private static Map<String, Object> manifest() throws IOException {
        return (Map<String, Object>) Json.parse(text(new File(Golden.bundle(), Manifest.FILE)));
    }

    /** The index of the model file's entry in the manifest's artifacts. */
    @SuppressWarnings("unchecked")
    private int modelIndex(Map<String, Object> manifest) {
        List<Object> artifacts = (List<Object>) manifest.get("artifacts");
        for (int i = 0; i < artifacts.size(); i++) {
            if (modelFile().equals(((Map<String, Object>) artifacts.get(i)).get("file"))) {
                return i;
            }
        }
        throw new AssertionError(modelFile() + " is not in the manifest");
    }

    @SuppressWarnings("unchecked")
    private Map<String, Object> modelEntry(Map<String, Object> manifest) {
        return (Map<String, Object>) ((List<Object>) manifest.get("artifacts")).get(modelIndex(manifest));
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> files(Map<String, Object> manifest) {
        return (Map<String, Object>) manifest.get("files");
    }

    private String refusalOf(Map<String, Object> manifest) throws IOException {
        write(Manifest.FILE, Json.write(manifest));
        return refusal();
    }

    @Test
    public void manifestWithoutFilesIsRefused() throws Exception {
        // Without checksums nothing could be checked: a changed model would run. Refused, not trusted.
        Map<String, Object> m = manifest();
        m.remove("files");
        assertEquals("ondevice.json: files is missing: without the checksums of its files the bundle cannot be "
                + "checked; export the bundle again", refusalOf(m));
    }

    @Test
    public void usedFileWithoutChecksum() throws Exception {
        Map<String, Object> m = manifest();
        files(m).remove("labels.json");
        String msg = refusalOf(m);
        assertTrue(msg, msg.startsWith("ondevice.json: files has no checksum for labels.json (the labels file)"));
        m = manifest();
        files(m).remove(modelFile());
        msg = refusalOf(m);
        assertTrue(msg, msg.startsWith("ondevice.json: files has no checksum for " + modelFile() + " (artifacts["
                + modelIndex(m) + "].file)"));
    }

    @Test
    public void artifactPathOutsideTheBundle() throws Exception {
        Files.copy(new File(dir, modelFile()).toPath(), new File(dir.getParentFile(), modelFile()).toPath());
        for (String bad : new String[] {"../" + modelFile(), "/tmp/" + modelFile(), "sub/" + modelFile()}) {
            Map<String, Object> m = manifest();
            modelEntry(m).put("file", bad);
            files(m).put(bad, files(m).remove(modelFile()));
            String msg = refusalOf(m);
            assertTrue(msg, msg.contains("'" + bad + "' is not a plain file name inside the bundle"));
            assertTrue(msg, msg.startsWith("ondevice.json: "));
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    public void vocabularyPathOutsideTheBundle() throws Exception {
        Map<String, Object> m = manifest();
        ((Map<String, Object>) m.get("tokenizer")).put("vocab_file", "/etc/passwd");
        assertEquals("ondevice.json: tokenizer.vocab_file '/etc/passwd' is not a plain file name inside the bundle "
                + "(no directories, '..' or absolute paths); export the bundle again", refusalOf(m));
    }

    @Test
    public void symbolicLinkOutOfTheBundle() throws Exception {
        // The link's target is an identical copy, so the checksum would pass: the path itself is refused.
        File outside = new File(dir.getParentFile(), "outside-" + modelFile());
        Files.move(new File(dir, modelFile()).toPath(), outside.toPath());
        Files.createSymbolicLink(new File(dir, modelFile()).toPath(), outside.toPath());
        String msg = refusal();
        assertTrue(msg, msg.startsWith(modelFile() + " cannot be read (a symbolic link to "));
        assertTrue(msg, msg.contains("outside the bundle; refused"));
    }

    @Test
    public void manifestOfTheWrongShape() throws Exception {
        write(Manifest.FILE, "[" + text(new File(dir, Manifest.FILE)) + "]");
        assertTrue(refusal().startsWith("ondevice.json is not a JSON object"));

        Map<String, Object> m = manifest();
        m.remove("labels");
        assertEquals("ondevice.json: labels is missing; export the bundle again", refusalOf(m));

        m = manifest();
        m.put("artifacts", "model.onnx");
        assertEquals("ondevice.json: artifacts must be a list, not a string; export the bundle again", refusalOf(m));

        m = manifest();
        String at = "ondevice.json: artifacts[" + modelIndex(m) + "]";
        modelEntry(m).put("file", new ArrayList<Object>());
        assertEquals(at + ".file must be a string, not an array; export the bundle again", refusalOf(m));

        m = manifest();
        modelEntry(m).put("format", "coreml");
        String msg = refusalOf(m);
        assertTrue(msg, msg.startsWith(at + ".format 'coreml' is not a known format"));

        m = manifest();
        modelEntry(m).put("seq_lens", "16");
        msg = refusalOf(m);
        assertTrue(msg, msg.startsWith(at + ".seq_lens must be a list, not a string"));

        m = manifest();
        modelEntry(m).put("sha256", "0000000000000000000000000000000000000000000000000000000000000000");
        msg = refusalOf(m);
        assertTrue(msg, msg.contains("has a sha256 or size that disagrees with files['" + modelFile() + "']"));
    }

    @Test
    public void plainNames() {
        assertTrue(Manifest.isPlainName("model.int8-dynamic.pte"));
        for (String bad : new String[] {"", ".", "..", "../x", "/etc/passwd", "a/b", "a\\b", "a\nb"}) {
            assertTrue(bad, !Manifest.isPlainName(bad));
        }
    }

    private void write(String name, String content) throws IOException {
        Files.write(new File(dir, name).toPath(), content.getBytes(StandardCharsets.UTF_8));
    }
}
