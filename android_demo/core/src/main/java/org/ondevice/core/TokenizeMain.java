package org.ondevice.core;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.Collections;
import java.util.List;

/**
 * The command-line entry of android_demo/core/tokenize.sh: the app's tokenizer over lines of stdin, one JSON line
 * of model inputs per input line, so that any bundle's tokenizer can be checked against the Python side.
 *
 * <pre>
 *   tokenize.sh [--max-length N] [--json] [--full] BUNDLE_DIR|tokenizer.json &lt; texts
 * </pre>
 *
 * Each output line holds input_ids, attention_mask and token_type_ids at the sequence length (the --max-length, or
 * for a bundle without one the smallest of its lengths that holds the text), that length, and the tokens the text
 * needs before truncation; with --full, only the ids, neither truncated nor padded. With --json each input line is a JSON string, so texts may hold newlines. Bad input is
 * one line on stderr starting "Error:", exit status 1; a bad command line exits 2.
 */
public final class TokenizeMain {
    private TokenizeMain() {}

    static final String USAGE =
            "usage: tokenize.sh [--max-length N] [--json] [--full] BUNDLE_DIR|tokenizer.json < texts";

    public static void main(String[] args) {
        int status;
        try {
            status = run(args);
        } catch (UsageException e) {
            System.err.println("Error: " + e.getMessage() + "\n" + USAGE);
            status = 2;
        } catch (BundleException | IOException | RuntimeException e) {
            System.err.println("Error: " + String.valueOf(e.getMessage()).replace('\n', ' '));
            status = 1;
        }
        System.exit(status);
    }

    static final class UsageException extends Exception {
        private static final long serialVersionUID = 1L;

        UsageException(String message) {
            super(message);
        }
    }

    static int run(String[] args) throws UsageException, BundleException, IOException {
        Integer maxLength = null;
        boolean json = false;
        boolean full = false;
        String path = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--max-length")) {
                if (i + 1 >= args.length) {
                    throw new UsageException("--max-length needs a number");
                }
                try {
                    maxLength = Integer.parseInt(args[++i]);
                } catch (NumberFormatException e) {
                    throw new UsageException("--max-length must be a whole number, not " + args[i]);
                }
                if (maxLength < 2) {
                    throw new UsageException("--max-length must be at least 2 (the two special tokens), not "
                            + maxLength);
                }
            } else if (a.equals("--json")) {
                json = true;
            } else if (a.equals("--full")) {
                full = true;
            } else if (a.equals("--pair")) {
                throw new UsageException("--pair (tab-separated sentence pairs) is not implemented yet");
            } else if (a.startsWith("-")) {
                throw new UsageException("unknown option " + a);
            } else if (path == null) {
                path = a;
            } else {
                throw new UsageException("one BUNDLE_DIR or tokenizer.json, not " + path + " and " + a);
            }
        }
        if (path == null) {
            throw new UsageException("name a bundle directory or a tokenizer.json");
        }
        File f = new File(path);
        Tokenizer tok;
        List<Integer> lengths;
        if (f.isDirectory()) {
            Bundle b = Bundle.open(new DirectorySource(f));
            tok = b.tokenizer();
            lengths = b.manifest().seqLens;
        } else if (f.isFile()) {
            tok = TokenizerJson.read(new String(Files.readAllBytes(f.toPath()), StandardCharsets.UTF_8));
            lengths = null;
        } else {
            throw new BundleException(path + " does not exist");
        }
        if (maxLength != null) {
            lengths = Collections.singletonList(maxLength);
        } else if (!full && (lengths == null || lengths.isEmpty())) {
            throw new UsageException("a tokenizer.json alone needs --max-length");
        }
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        Writer out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8));
        int lineNo = 0;
        for (String line; (line = in.readLine()) != null; ) {
            lineNo++;
            String text = line;
            if (json) {
                Object v;
                try {
                    v = Json.parse(line);
                } catch (Json.JsonException e) {
                    throw new BundleException("line " + lineNo + " is not a JSON string (" + e.getMessage() + ")");
                }
                if (!(v instanceof String)) {
                    throw new BundleException("line " + lineNo + " is " + Json.kind(v) + ", not a JSON string");
                }
                text = (String) v;
            }
            StringBuilder sb = new StringBuilder();
            if (full) {
                sb.append("{\"ids\": ");
                ints(sb, tok.ids(text));
                out.write(sb.append("}\n").toString());
                continue;
            }
            Tokenizer.Encoding e = tok.encode(text, lengths);
            sb.append("{\"input_ids\": ");
            ints(sb, e.inputIds);
            sb.append(", \"attention_mask\": ");
            ints(sb, e.attentionMask);
            sb.append(", \"token_type_ids\": ");
            ints(sb, e.tokenTypeIds);
            sb.append(", \"seq_len\": ").append(e.seqLen).append(", \"tokens\": ").append(e.tokens).append("}\n");
            out.write(sb.toString());
        }
        out.flush();
        return 0;
    }

    private static void ints(StringBuilder sb, int[] values) {
        sb.append('[');
        for (int i = 0; i < values.length; i++) {
            if (i > 0) {
                sb.append(", ");
            }
            sb.append(values[i]);
        }
        sb.append(']');
    }
}
