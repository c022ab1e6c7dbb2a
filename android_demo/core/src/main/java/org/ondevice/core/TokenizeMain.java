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
import java.util.ArrayList;
import java.util.List;

/**
 * The command-line entry of android_demo/core/tokenize.sh: the app's tokenizer over lines of stdin, one JSON line
 * of model inputs per input line, so that any bundle's tokenizer can be checked against the Python side.
 *
 * <pre>
 *   tokenize.sh [--max-length N[,N...]] [--json] [--full] [--pair] BUNDLE_DIR|tokenizer.json &lt; texts
 * </pre>
 *
 * Each output line holds input_ids, attention_mask and token_type_ids at the sequence length (the smallest of the
 * --max-length lengths, or for a bundle without one of its own lengths, that holds the text; the longest if none
 * does), that length, and the tokens the text needs before truncation; with --full, only the ids, neither truncated
 * nor padded. With --json each input line is a JSON string, so texts may hold newlines. With --pair each input line is a pair of texts, as the post-processor joins
 * them and the longer is cut first: the two separated by one tab, or with --json a JSON array of two strings; a line
 * without a tab or with an empty second text is refused, naming the line. Bad input is one line on stderr starting
 * "Error:", exit status 1; a bad command line exits 2.
 */
public final class TokenizeMain {
    private TokenizeMain() {}

    static final String USAGE =
            "usage: tokenize.sh [--max-length N[,N...]] [--json] [--full] [--pair] BUNDLE_DIR|tokenizer.json < texts";

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
        List<Integer> maxLengths = null;
        boolean json = false;
        boolean full = false;
        boolean pair = false;
        String path = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--max-length")) {
                if (i + 1 >= args.length) {
                    throw new UsageException("--max-length needs a number");
                }
                maxLengths = lengths(args[++i]);
            } else if (a.equals("--json")) {
                json = true;
            } else if (a.equals("--full")) {
                full = true;
            } else if (a.equals("--pair")) {
                pair = true;
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
        if (maxLengths != null) {
            lengths = maxLengths;
        } else if (!full && (lengths == null || lengths.isEmpty())) {
            throw new UsageException("a tokenizer.json alone needs --max-length");
        }
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        Writer out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8));
        int lineNo = 0;
        for (String line; (line = in.readLine()) != null; ) {
            lineNo++;
            String[] texts = pair ? pair(line, lineNo, json) : new String[] {json ? jsonString(line, lineNo) : line};
            StringBuilder sb = new StringBuilder();
            if (full) {
                sb.append("{\"ids\": ");
                if (pair) {
                    Tokenizer.Encoding e = tok.encodePair(texts[0], texts[1], pairTokens(tok, texts));
                    ints(sb, e.inputIds);
                    sb.append(", \"token_type_ids\": ");
                    ints(sb, e.tokenTypeIds);
                } else {
                    ints(sb, tok.ids(texts[0]));
                }
                out.write(sb.append("}\n").toString());
                continue;
            }
            Tokenizer.Encoding e = pair ? tok.encodePair(texts[0], texts[1], lengths) : tok.encode(texts[0], lengths);
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

    /** "16" or "16,128": the lengths to choose from, as a bundle's. */
    private static List<Integer> lengths(String arg) throws UsageException {
        List<Integer> out = new ArrayList<>();
        for (String part : arg.split(",", -1)) {
            int n;
            try {
                n = Integer.parseInt(part);
            } catch (NumberFormatException e) {
                throw new UsageException("--max-length must be a whole number or a comma-separated list, not " + arg);
            }
            if (n < 2) {
                throw new UsageException("--max-length must be at least 2 (the two special tokens), not " + n);
            }
            out.add(n);
        }
        return out;
    }

    private static String jsonString(String line, int lineNo) throws BundleException {
        Object v = parse(line, lineNo, "a JSON string");
        if (!(v instanceof String)) {
            throw new BundleException("line " + lineNo + " is " + Json.kind(v) + ", not a JSON string");
        }
        return (String) v;
    }

    private static Object parse(String line, int lineNo, String what) throws BundleException {
        try {
            return Json.parse(line);
        } catch (Json.JsonException e) {
            throw new BundleException("line " + lineNo + " is not " + what + " (" + e.getMessage() + ")");
        }
    }

    /** The two texts of a line: split at its one tab, or with --json an array of two strings. */
    private static String[] pair(String line, int lineNo, boolean json) throws BundleException {
        String[] texts;
        if (json) {
            Object v = parse(line, lineNo, "a JSON array of two strings");
            if (!(v instanceof List) || ((List<?>) v).size() != 2
                    || !(((List<?>) v).get(0) instanceof String)
                    || !(((List<?>) v).get(1) instanceof String)) {
                throw new BundleException("line " + lineNo + " is " + Json.kind(v) + ", not a JSON array of two"
                        + " strings");
            }
            texts = new String[] {(String) ((List<?>) v).get(0), (String) ((List<?>) v).get(1)};
        } else {
            int tab = line.indexOf('\t');
            if (tab < 0) {
                throw new BundleException("line " + lineNo + " has no tab: --pair reads two texts per line, separated"
                        + " by a tab");
            }
            if (line.indexOf('\t', tab + 1) >= 0) {
                throw new BundleException("line " + lineNo + " has more than one tab: --pair reads two texts per"
                        + " line, separated by a tab (use --json for texts that hold tabs)");
            }
            texts = new String[] {line.substring(0, tab), line.substring(tab + 1)};
        }
        if (texts[1].isEmpty()) {
            throw new BundleException("line " + lineNo + " has no second text: --pair reads two texts per line");
        }
        return texts;
    }

    /** Tokens of the untruncated pair, special tokens included. */
    private static int pairTokens(Tokenizer tok, String[] texts) {
        return tok.textIds(texts[0]).length + tok.textIds(texts[1]).length + tok.pairTemplate().added();
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
