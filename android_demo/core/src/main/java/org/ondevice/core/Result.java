package org.ondevice.core;

/** One label's score for one text: immutable. */
public final class Result {
    private final String label;
    private final int index;
    private final double probability;
    private final float logit;
    private final boolean applies;

    /**
     * @param applies whether the label is given to the text: the most probable label of a single-label model, each
     *     label above its threshold of a multi-label one.
     */
    public Result(String label, int index, double probability, float logit, boolean applies) {
        this.label = label;
        this.index = index;
        this.probability = probability;
        this.logit = logit;
        this.applies = applies;
    }

    public String label() {
        return label;
    }

    /** The label's position in labels.json, which is the model's output index. */
    public int index() {
        return index;
    }

    public double probability() {
        return probability;
    }

    public float logit() {
        return logit;
    }

    /** Whether the label is given to the text (see the constructor). */
    public boolean applies() {
        return applies;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof Result)) {
            return false;
        }
        Result r = (Result) o;
        return index == r.index
                && label.equals(r.label)
                && Double.compare(probability, r.probability) == 0
                && Float.compare(logit, r.logit) == 0
                && applies == r.applies;
    }

    @Override
    public int hashCode() {
        return (label.hashCode() * 31 + index) * 31 + Double.hashCode(probability);
    }

    @Override
    public String toString() {
        return String.format(java.util.Locale.ROOT, "%s %.4f", label, probability);
    }
}
