package org.ondevice.core;

import java.text.Normalizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The normalizers of a {@code tokenizer.json} that byte-level BPE and SentencePiece checkpoints ship with:
 * Precompiled (SentencePiece's character map), Replace, Strip, NFC/NFD/NFKC/NFKD, Lowercase, StripAccents, and a
 * Sequence of them. Any other is refused with its name.
 */
abstract class TextNormalizer {
    abstract String apply(String s);

    /** The identity, for a tokenizer.json without a normalizer. */
    static final TextNormalizer NONE = new TextNormalizer() {
        @Override
        String apply(String s) {
            return s;
        }
    };

    @SuppressWarnings("unchecked")
    static TextNormalizer read(Object spec) {
        if (spec == null) {
            return NONE;
        }
        if (!(spec instanceof Map)) {
            throw new Json.JsonException("its normalizer is " + Json.kind(spec) + ", expected an object");
        }
        Map<String, Object> m = (Map<String, Object>) spec;
        String type = Json.string(m, "type");
        switch (type) {
            case "Sequence": {
                final List<TextNormalizer> steps = new ArrayList<>();
                for (Object o : Json.array(m, "normalizers")) {
                    steps.add(read(o));
                }
                return new TextNormalizer() {
                    @Override
                    String apply(String s) {
                        for (TextNormalizer n : steps) {
                            s = n.apply(s);
                        }
                        return s;
                    }
                };
            }
            case "Precompiled": {
                final Precompiled map = new Precompiled(Precompiled.base64(Json.string(m, "precompiled_charsmap")));
                return new TextNormalizer() {
                    @Override
                    String apply(String s) {
                        return map.normalize(s);
                    }
                };
            }
            case "Replace":
                return replace(m);
            case "Strip": {
                final boolean left = Json.bool(m, "strip_left", true);
                final boolean right = Json.bool(m, "strip_right", true);
                return new TextNormalizer() {
                    @Override
                    String apply(String s) {
                        int a = 0;
                        int b = s.length();
                        while (left && a < b && WordPieceTokenizer.isWhitespace(s.codePointAt(a))) {
                            a += Character.charCount(s.codePointAt(a));
                        }
                        while (right && b > a && WordPieceTokenizer.isWhitespace(s.codePointBefore(b))) {
                            b -= Character.charCount(s.codePointBefore(b));
                        }
                        return s.substring(a, b);
                    }
                };
            }
            case "NFC":
                return unicode(Normalizer.Form.NFC);
            case "NFD":
                return unicode(Normalizer.Form.NFD);
            case "NFKC":
                return unicode(Normalizer.Form.NFKC);
            case "NFKD":
                return unicode(Normalizer.Form.NFKD);
            case "Lowercase":
                return new TextNormalizer() {
                    @Override
                    String apply(String s) {
                        StringBuilder sb = new StringBuilder(s.length());
                        for (int i = 0; i < s.length(); ) {
                            int cp = s.codePointAt(i);
                            i += Character.charCount(cp);
                            // Rust lower-cases each character alone; İ is the one that becomes two characters.
                            if (cp == 0x130) {
                                sb.append("i\u0307");
                            } else {
                                sb.appendCodePoint(Character.toLowerCase(cp));
                            }
                        }
                        return sb.toString();
                    }
                };
            case "StripAccents":
                return new TextNormalizer() {
                    @Override
                    String apply(String s) {
                        StringBuilder sb = new StringBuilder(s.length());
                        for (int i = 0; i < s.length(); ) {
                            int cp = s.codePointAt(i);
                            i += Character.charCount(cp);
                            if (!CharClasses.in(TextClasses.MARK, cp)) {
                                sb.appendCodePoint(cp);
                            }
                        }
                        return sb.toString();
                    }
                };
            default:
                throw new Json.JsonException("its normalizer " + type + " is not one this app implements (Precompiled,"
                        + " Replace, Strip, NFC, NFD, NFKC, NFKD, Lowercase, StripAccents, Sequence)");
        }
    }

    private static TextNormalizer unicode(final Normalizer.Form form) {
        return new TextNormalizer() {
            @Override
            String apply(String s) {
                return Normalizer.normalize(s, form);
            }
        };
    }

    /**
     * Replace of a literal string, or of a regex that is a run of one literal character ({@code " {2,}"}, {@code
     * "x+"}), the only regexes converted checkpoints use; any other regex is refused.
     */
    private static TextNormalizer replace(Map<String, Object> m) {
        Map<String, Object> pattern = Json.object(m, "pattern");
        final String content = Json.string(m, "content");
        if (pattern.get("String") instanceof String) {
            final String target = (String) pattern.get("String");
            if (target.isEmpty()) {
                throw new Json.JsonException("its Replace normalizer replaces the empty string");
            }
            return new TextNormalizer() {
                @Override
                String apply(String s) {
                    return s.replace(target, content);
                }
            };
        }
        String regex = Json.string(pattern, "Regex");
        int cp = regex.isEmpty() ? -1 : regex.codePointAt(0);
        String rest = cp < 0 ? "" : regex.substring(Character.charCount(cp));
        int min;
        if (rest.equals("+")) {
            min = 1;
        } else if (rest.matches("\\{[0-9]{1,4},\\}")) {
            min = Integer.parseInt(rest.substring(1, rest.length() - 2));
        } else {
            min = -1;
        }
        if (cp < 0 || min < 1 || "\\.[](){}*+?|^$".indexOf(cp) >= 0) {
            throw new Json.JsonException("its Replace normalizer's regex " + regex + " is not one this app implements"
                    + " (a run of one character, such as \" {2,}\")");
        }
        final int ch = cp;
        final int least = min;
        return new TextNormalizer() {
            @Override
            String apply(String s) {
                StringBuilder sb = new StringBuilder(s.length());
                int n = Character.charCount(ch);
                for (int i = 0; i < s.length(); ) {
                    int run = 0;
                    int j = i;
                    while (j < s.length() && s.codePointAt(j) == ch) {
                        j += n;
                        run++;
                    }
                    if (run >= least) {
                        sb.append(content);
                    } else if (run > 0) {
                        sb.append(s, i, j);
                    }
                    if (j < s.length() && run == 0) {
                        int c = s.codePointAt(j);
                        sb.appendCodePoint(c);
                        j += Character.charCount(c);
                    }
                    i = j;
                }
                return sb.toString();
            }
        };
    }
}
