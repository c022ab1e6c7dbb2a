package org.ondevice.core;

import java.util.List;

/** A text classifier: load once, classify many texts, close. The app uses one per runtime. */
public interface Classifier extends AutoCloseable {
    /** Reads and checks the bundle and loads the model; the message of the exception is meant for the screen. */
    void load() throws BundleException;

    /**
     * The labels with their probabilities, most probable first, each saying whether it applies (one of a single-label
     * model; any number of a multi-label one, see {@link Predictions#applying}). Call after {@link #load}; not
     * thread-safe.
     */
    List<Result> classify(String text) throws Exception;

    /**
     * The labels of a pair of texts (premise and hypothesis, question and passage), most probable first: for a
     * bundle that says text_pair; another refuses with a message for the screen.
     */
    List<Result> classifyPair(String text, String textPair) throws Exception;

    /** Frees the model; the classifier cannot be used afterwards. */
    @Override
    void close();
}
