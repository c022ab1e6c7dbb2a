package org.ondevice.core;

import java.util.List;

/** A text classifier: load once, classify many texts, close. The app uses one per runtime. */
public interface Classifier extends AutoCloseable {
    /** Reads and checks the bundle and loads the model; the message of the exception is meant for the screen. */
    void load() throws BundleException;

    /** The labels with their probabilities, most probable first. Call after {@link #load}; not thread-safe. */
    List<Result> classify(String text) throws Exception;

    /** Frees the model; the classifier cannot be used afterwards. */
    @Override
    void close();
}
