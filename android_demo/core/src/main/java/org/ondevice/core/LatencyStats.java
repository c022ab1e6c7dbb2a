package org.ondevice.core;

import java.util.Arrays;

/**
 * Summary figures of latency samples, defined as the Python side computes them: percentiles by linear interpolation
 * between the closest ranks (numpy's default), the mean, and the population standard deviation (numpy's std).
 */
public final class LatencyStats {
    public final double p50;
    public final double p90;
    public final double p99;
    public final double mean;
    public final double std;
    public final double min;
    public final double max;

    private LatencyStats(double[] samples) {
        if (samples.length == 0) {
            throw new IllegalArgumentException("no samples");
        }
        double[] sorted = samples.clone();
        Arrays.sort(sorted);
        p50 = percentile(sorted, 50);
        p90 = percentile(sorted, 90);
        p99 = percentile(sorted, 99);
        double sum = 0;
        for (double x : samples) {
            sum += x;
        }
        mean = sum / samples.length;
        double sq = 0;
        for (double x : samples) {
            sq += (x - mean) * (x - mean);
        }
        std = Math.sqrt(sq / samples.length);
        min = sorted[0];
        max = sorted[sorted.length - 1];
    }

    public static LatencyStats of(double[] samples) {
        return new LatencyStats(samples);
    }

    /** The q-th percentile of sorted samples, computed step by step as numpy's "linear" method does. */
    public static double percentile(double[] sorted, double q) {
        int n = sorted.length;
        double quantile = q / 100.0;
        double index = n * quantile + (1 + quantile * (1 - 1 - 1)) - 1; // Hyndman and Fan's alpha = beta = 1
        int lo = (int) Math.max(0, Math.min(n - 1, Math.floor(index)));
        int hi = Math.min(lo + 1, n - 1);
        double t = index - Math.floor(index);
        double diff = sorted[hi] - sorted[lo];
        return t >= 0.5 ? sorted[hi] - diff * (1 - t) : sorted[lo] + diff * t;
    }
}
