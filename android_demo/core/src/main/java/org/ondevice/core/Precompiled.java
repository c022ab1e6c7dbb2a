package org.ondevice.core;

import java.nio.charset.StandardCharsets;

/**
 * SentencePiece's precompiled character map, as the {@code tokenizers} Precompiled normalizer applies it.
 *
 * <p>The map is a darts-clone double-array trie over UTF-8 bytes followed by the NUL-terminated replacement strings.
 * The text is walked by grapheme cluster: a cluster shorter than 6 UTF-8 bytes is looked up whole, and when one of
 * its prefixes is in the trie the shortest such prefix's replacement stands for the whole cluster (what the library
 * does, and what checkpoints converted by it were checked against); otherwise each character is looked up alone and
 * replaced, or kept when it is not in the trie.
 */
final class Precompiled {
    private final int[] trie;
    private final byte[] normalized;

    Precompiled(byte[] charsmap) {
        if (charsmap.length < 4) {
            throw new Json.JsonException("its precompiled_charsmap is too short");
        }
        long trieBytes = (charsmap[0] & 0xFFL) | (charsmap[1] & 0xFFL) << 8 | (charsmap[2] & 0xFFL) << 16
                | (charsmap[3] & 0xFFL) << 24;
        if (trieBytes > charsmap.length - 4 || trieBytes % 4 != 0 || trieBytes == 0) {
            throw new Json.JsonException("its precompiled_charsmap has a trie of " + trieBytes + " bytes in "
                    + charsmap.length);
        }
        trie = new int[(int) (trieBytes / 4)];
        for (int k = 0; k < trie.length; k++) {
            int p = 4 + 4 * k;
            trie[k] = (charsmap[p] & 0xFF) | (charsmap[p + 1] & 0xFF) << 8 | (charsmap[p + 2] & 0xFF) << 16
                    | (charsmap[p + 3] & 0xFF) << 24;
        }
        normalized = new byte[charsmap.length - 4 - (int) trieBytes];
        System.arraycopy(charsmap, 4 + (int) trieBytes, normalized, 0, normalized.length);
    }

    String normalize(String s) {
        StringBuilder out = new StringBuilder(s.length());
        int i = 0;
        while (i < s.length()) {
            int end = Graphemes.clusterEnd(s, i);
            String cluster = s.substring(i, end);
            String whole = utf8Length(cluster) < 6 ? transform(cluster) : null;
            if (whole != null) {
                out.append(whole);
            } else {
                for (int k = i; k < end; ) {
                    int cp = s.codePointAt(k);
                    int n = Character.charCount(cp);
                    String one = transform(s.substring(k, k + n));
                    if (one != null) {
                        out.append(one);
                    } else {
                        out.appendCodePoint(cp);
                    }
                    k += n;
                }
            }
            i = end;
        }
        return out.toString();
    }

    private static int utf8Length(String s) {
        int n = 0;
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
            i += Character.charCount(cp);
        }
        return n;
    }

    /** The replacement of the shortest prefix of {@code chunk} that the trie holds, or null. */
    private String transform(String chunk) {
        int value = firstPrefixValue(chunk.getBytes(StandardCharsets.UTF_8));
        if (value < 0 || value > normalized.length) {
            return null;
        }
        int end = value;
        while (end < normalized.length && normalized[end] != 0) {
            end++;
        }
        return new String(normalized, value, end - value, StandardCharsets.UTF_8);
    }

    /** darts-clone's common prefix search, stopped at its first result. */
    private int firstPrefixValue(byte[] key) {
        int pos = 0;
        int unit = trie[0];
        pos ^= offset(unit);
        for (byte b : key) {
            int c = b & 0xFF;
            if (c == 0) {
                break;
            }
            pos ^= c;
            if (pos < 0 || pos >= trie.length) {
                return -1;
            }
            unit = trie[pos];
            if ((unit & ((1 << 31) | 0xFF)) != c) {
                return -1;
            }
            pos ^= offset(unit);
            if (((unit >>> 8) & 1) == 1) {
                if (pos < 0 || pos >= trie.length) {
                    return -1;
                }
                return trie[pos] & 0x7FFFFFFF;
            }
        }
        return -1;
    }

    private static int offset(int unit) {
        return (unit >>> 10) << ((unit & (1 << 9)) >>> 6);
    }

    /** Standard base64 (with padding), as the JSON carries the map; java.util.Base64 needs Android API 26. */
    static byte[] base64(String s) {
        byte[] out = new byte[s.length() / 4 * 3];
        int n = 0;
        int bits = 0;
        int count = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            int v;
            if (c >= 'A' && c <= 'Z') {
                v = c - 'A';
            } else if (c >= 'a' && c <= 'z') {
                v = c - 'a' + 26;
            } else if (c >= '0' && c <= '9') {
                v = c - '0' + 52;
            } else if (c == '+') {
                v = 62;
            } else if (c == '/') {
                v = 63;
            } else if (c == '=') {
                break;
            } else {
                throw new Json.JsonException("its precompiled_charsmap is not base64");
            }
            bits = bits << 6 | v;
            count += 6;
            if (count >= 8) {
                count -= 8;
                if (n == out.length) {
                    throw new Json.JsonException("its precompiled_charsmap is not base64");
                }
                out[n++] = (byte) (bits >> count);
            }
        }
        byte[] exact = new byte[n];
        System.arraycopy(out, 0, exact, 0, n);
        return exact;
    }
}
