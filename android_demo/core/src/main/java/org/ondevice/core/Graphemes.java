package org.ondevice.core;

/**
 * Extended grapheme clusters (Unicode UAX #29, the rules of Rust's unicode-segmentation crate, which the
 * {@code tokenizers} Precompiled normalizer iterates over), from the tables in {@link TextClasses}.
 */
final class Graphemes {
    private Graphemes() {}

    private static final int OTHER = 0;
    private static final int CR = 1;
    private static final int LF = 2;
    private static final int CONTROL = 3;
    private static final int EXTEND = 4;
    private static final int ZWJ = 5;
    private static final int RI = 6;
    private static final int PREPEND = 7;
    private static final int SPACING_MARK = 8;
    private static final int L = 9;
    private static final int V = 10;
    private static final int T = 11;
    private static final int LV = 12;
    private static final int LVT = 13;

    static int kind(int cp) {
        if (cp == '\r') {
            return CR;
        }
        if (cp == '\n') {
            return LF;
        }
        if (CharClasses.in(TextClasses.GCB_CONTROL, cp)) {
            return CONTROL;
        }
        if (CharClasses.in(TextClasses.GCB_EXTEND, cp)) {
            return EXTEND;
        }
        if (CharClasses.in(TextClasses.GCB_ZWJ, cp)) {
            return ZWJ;
        }
        if (CharClasses.in(TextClasses.GCB_REGIONAL_INDICATOR, cp)) {
            return RI;
        }
        if (CharClasses.in(TextClasses.GCB_PREPEND, cp)) {
            return PREPEND;
        }
        if (CharClasses.in(TextClasses.GCB_SPACINGMARK, cp)) {
            return SPACING_MARK;
        }
        if (CharClasses.in(TextClasses.GCB_L, cp)) {
            return L;
        }
        if (CharClasses.in(TextClasses.GCB_V, cp)) {
            return V;
        }
        if (CharClasses.in(TextClasses.GCB_T, cp)) {
            return T;
        }
        if (CharClasses.in(TextClasses.GCB_LV, cp)) {
            return LV;
        }
        if (CharClasses.in(TextClasses.GCB_LVT, cp)) {
            return LVT;
        }
        return OTHER;
    }

    /** The char index where the cluster that starts at {@code start} ends. */
    static int clusterEnd(String s, int start) {
        int prevCp = s.codePointAt(start);
        int prev = kind(prevCp);
        int i = start + Character.charCount(prevCp);
        // State for the rules that look further back than one character (GB9c, GB11, GB12/13).
        int riCount = prev == RI ? 1 : 0;
        boolean pict = CharClasses.in(TextClasses.EXT_PICT, prevCp); // ExtPict Extend* so far
        boolean pictZwj = false; // ExtPict Extend* ZWJ just before
        int conjunct = CharClasses.in(TextClasses.INCB_CONSONANT, prevCp) ? 1 : 0; // 1: consonant, 2: and a linker
        while (i < s.length()) {
            int cp = s.codePointAt(i);
            int cur = kind(cp);
            boolean curPict = CharClasses.in(TextClasses.EXT_PICT, cp);
            boolean curConsonant = CharClasses.in(TextClasses.INCB_CONSONANT, cp);
            if (breaks(prev, cur, riCount, pictZwj && curPict, conjunct == 2 && curConsonant)) {
                return i;
            }
            // Carry the look-back state past cp.
            riCount = cur == RI ? riCount + 1 : 0;
            if (curPict) {
                pict = true;
                pictZwj = false;
            } else if (cur == EXTEND && pict) {
                pictZwj = false;
            } else if (cur == ZWJ && pict) {
                pictZwj = true;
                pict = false;
            } else {
                pict = false;
                pictZwj = false;
            }
            if (curConsonant) {
                conjunct = 1;
            } else if (conjunct > 0 && CharClasses.in(TextClasses.INCB_LINKER, cp)) {
                conjunct = 2;
            } else if (conjunct > 0 && CharClasses.in(TextClasses.INCB_EXTEND, cp)) {
                // stays
            } else {
                conjunct = 0;
            }
            prev = cur;
            i += Character.charCount(cp);
        }
        return i;
    }

    private static boolean breaks(int prev, int cur, int riCount, boolean emojiZwj, boolean conjunct) {
        if (prev == CR && cur == LF) {
            return false; // GB3
        }
        if (prev == CR || prev == LF || prev == CONTROL) {
            return true; // GB4
        }
        if (cur == CR || cur == LF || cur == CONTROL) {
            return true; // GB5
        }
        if (prev == L && (cur == L || cur == V || cur == LV || cur == LVT)) {
            return false; // GB6
        }
        if ((prev == LV || prev == V) && (cur == V || cur == T)) {
            return false; // GB7
        }
        if ((prev == LVT || prev == T) && cur == T) {
            return false; // GB8
        }
        if (cur == EXTEND || cur == ZWJ || cur == SPACING_MARK) {
            return false; // GB9, GB9a
        }
        if (prev == PREPEND) {
            return false; // GB9b
        }
        if (conjunct) {
            return false; // GB9c
        }
        if (emojiZwj) {
            return false; // GB11
        }
        if (prev == RI && cur == RI) {
            return riCount % 2 == 0; // GB12, GB13: pairs
        }
        return true; // GB999
    }
}
