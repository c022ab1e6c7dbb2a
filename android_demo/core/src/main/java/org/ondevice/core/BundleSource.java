package org.ondevice.core;

import java.io.IOException;
import java.io.InputStream;

/** Where a bundle's files are read from: a directory on the JVM, the app's assets on Android. */
public interface BundleSource {
    /** Opens a file of the bundle; throws {@link java.io.FileNotFoundException} when it is absent. */
    InputStream open(String name) throws IOException;

    /** Where the bundle is, for messages ("assets/ondevice", "/data/local/tmp/bundle"). */
    String location();
}
