package org.ondevice.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** From logits to labelled probabilities. */
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

    /**
     * One result per label, most probable first; equal probabilities keep the labels' order, so the first result is
     * the label numpy's argmax gives.
     */
    public static List<Result> rank(float[] logits, List<String> labels) {
        if (logits.length != labels.size()) {
            throw new IllegalArgumentException("the model gives " + logits.length + " logits for " + labels.size()
                    + " labels: labels.json does not belong to this model");
        }
        double[] p = softmax(logits);
        List<Result> out = new ArrayList<>(p.length);
        for (int i = 0; i < p.length; i++) {
            out.add(new Result(labels.get(i), i, p[i], logits[i]));
        }
        // A stable sort, so ties stay in label order.
        Collections.sort(out, (a, b) -> Double.compare(b.probability(), a.probability()));
        return Collections.unmodifiableList(out);
    }
}
