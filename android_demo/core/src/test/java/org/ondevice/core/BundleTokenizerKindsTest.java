package org.ondevice.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.util.Map;
import org.junit.Before;
import org.junit.Test;

/**
 * A bundle whose tokenizer.json is byte-level BPE: the manifest's kind picks the tokenizer, and a kind that does not
 * match the file, or a BPE bundle without tokenizer.json, is refused. Made from a copy of the golden bundle.
 */
public class BundleTokenizerKindsTest {
    private File dir;

    @Before
    public void copyBundle() throws Exception {
        dir = Files.createTempDirectory("ondevice-bundle-kinds").toFile();
        dir.deleteOnExit();
        for (File f : Golden.bundle().listFiles()) {
            Files.copy(f.toPath(), new File(dir, f.getName()).toPath(), StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** Writes the BPE tokenizer.json and a manifest naming {@code kind}, its file entry updated to match. */
    @SuppressWarnings("unchecked")
    private void makeBpe(String kind, boolean listTokenizer) throws Exception {
        File tj = new File(dir, TokenizerJson.FILE);
        byte[] bytes = TokenizerKindsTest.bpe("[\"b c\", \"a b\", \"a bc\"]").getBytes(StandardCharsets.UTF_8);
        Files.write(tj.toPath(), bytes);
        Map<String, Object> manifest = (Map<String, Object>) Json.parse(text(new File(dir, Manifest.FILE)));
        Map<String, Object> t = (Map<String, Object>) manifest.get("tokenizer");
        t.put("kind", kind);
        t.put("cls_id", 0L);
        t.put("sep_id", 2L);
        t.put("pad_id", 1L);
        t.put("unk_id", null);
        Map<String, Object> files = (Map<String, Object>) manifest.get("files");
        if (listTokenizer) {
            Map<String, Object> entry = (Map<String, Object>) files.get(TokenizerJson.FILE);
            entry.put("sha256", Bundle.hex(MessageDigest.getInstance("SHA-256").digest(bytes)));
            entry.put("size_bytes", (long) bytes.length);
        } else {
            files.remove(TokenizerJson.FILE);
        }
        Files.write(new File(dir, Manifest.FILE).toPath(), Json.write(manifest).getBytes(StandardCharsets.UTF_8));
    }

    private static String text(File f) throws IOException {
        return new String(Files.readAllBytes(f.toPath()), StandardCharsets.UTF_8);
    }

    private String refusal() {
        try {
            Bundle.open(new DirectorySource(dir));
        } catch (BundleException e) {
            return e.getMessage();
        }
        fail("the bundle was accepted");
        return null;
    }

    @Test
    public void bpeBundleGivesBpeIds() throws Exception {
        makeBpe("BPE", true);
        Bundle b = Bundle.open(new DirectorySource(dir));
        assertTrue(b.tokenizer() instanceof ByteLevelBpeTokenizer);
        assertArrayEquals(new int[] {0, 9, 2}, b.tokenizer().ids("abc"));
        Tokenizer.Encoding e = b.tokenizer().encode("abc", 4);
        assertArrayEquals(new int[] {0, 9, 2, 1}, e.inputIds);
    }

    @Test
    public void kindThatDoesNotMatchTheFileIsRefused() throws Exception {
        makeBpe("Unigram", true);
        assertEquals("tokenizer.json cannot be used: it holds a BPE tokenizer but ondevice.json says Unigram: the"
                + " files do not belong together; export the bundle again", refusal());
    }

    @Test
    public void bpeWithoutTokenizerJsonIsRefused() throws Exception {
        makeBpe("BPE", false);
        assertTrue(refusal(), refusal().startsWith("a BPE tokenizer is read from tokenizer.json, which"));
    }
}
