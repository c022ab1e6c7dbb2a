package org.ondevice.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * From logits to labelled probabilities: a softmax over the labels of a single-label model, a sigmoid per label of a
 * multi-label one, whose labels apply each above its own threshold (the Python side's {@code ondevice.scores}).
 */
public final class Predictions {
    private Predictions() {}

    /** Softmax in double precision, shifted by the largest logit so that no exponential overflows. */
    public static double[] softmax(float[] logits) {
        if (logits.length == 0) {
            throw new IllegalArgumentException("no logits");
        }
        double max = Double.NEGATIVE_INFINITY;
        for (float x : logits) {
            max = Math.max(max, x);
        }
        double[] p = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < p.length; i++) {
            p[i] = Math.exp(logits[i] - max);
            sum += p[i];
        }
        for (int i = 0; i < p.length; i++) {
            p[i] /= sum;
        }
        return p;
    }

    /** Each label's probability in a multi-label model, in double precision. */
    public static double[] sigmoid(float[] logits) {
        double[] p = new double[logits.length];
        for (int i = 0; i < p.length; i++) {
            p[i] = 1.0 / (1.0 + Math.exp(-(double) logits[i]));
        }
        return p;
    }

    /**
     * One result per label, most probable first; equal probabilities keep the labels' order, so the first result is
     * the label numpy's argmax gives. Only the first applies.
     */
    public static List<Result> rank(float[] logits, List<String> labels) {
        check(logits, labels);
        return ranked(logits, labels, softmax(logits), null);
    }

    /**
     * One result per label, most probable first (sigmoid probabilities, which need not sum to one); a label applies
     * when its probability is above its threshold, so none may apply, or all.
     */
    public static List<Result> rankMultiLabel(float[] logits, List<String> labels, List<Double> thresholds) {
        check(logits, labels);
        if (thresholds.size() != labels.size()) {
            throw new IllegalArgumentException(thresholds.size() + " thresholds for " + labels.size() + " labels");
        }
        return ranked(logits, labels, sigmoid(logits), thresholds);
    }

    /** The results of a bundle's model: {@link #rankMultiLabel} when its manifest says multi-label, else {@link #rank}. */
    public static List<Result> of(float[] logits, Manifest manifest) {
        return manifest.multiLabel
                ? rankMultiLabel(logits, manifest.labels, manifest.thresholds)
                : rank(logits, manifest.labels);
    }

    /** The labels that apply, in the labels' order (a multi-label model's answer; perhaps none). */
    public static List<String> applying(List<Result> results) {
        List<Result> chosen = new ArrayList<>();
        for (Result r : results) {
            if (r.applies()) {
                chosen.add(r);
            }
        }
        Collections.sort(chosen, (a, b) -> Integer.compare(a.index(), b.index()));
        List<String> out = new ArrayList<>(chosen.size());
        for (Result r : chosen) {
            out.add(r.label());
        }
        return Collections.unmodifiableList(out);
    }

    private static void check(float[] logits, List<String> labels) {
        if (logits.length != labels.size()) {
            throw new IllegalArgumentException("the model gives " + logits.length + " logits for " + labels.size()
                    + " labels: labels.json does not belong to this model");
        }
    }

    /** thresholds null: single-label, where the most probable label alone applies. */
    private static List<Result> ranked(float[] logits, List<String> labels, double[] p, List<Double> thresholds) {
        List<Result> out = new ArrayList<>(p.length);
        int top = 0;
        for (int i = 1; i < p.length; i++) {
            top = p[i] > p[top] ? i : top;
        }
        for (int i = 0; i < p.length; i++) {
            boolean applies = thresholds == null ? i == top : p[i] > thresholds.get(i);
            out.add(new Result(labels.get(i), i, p[i], logits[i], applies));
        }
        // A stable sort, so ties stay in label order.
        Collections.sort(out, (a, b) -> Double.compare(b.probability(), a.probability()));
        return Collections.unmodifiableList(out);
    }
}
