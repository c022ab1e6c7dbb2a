package org.ondevice.core;

/**
 * A bundle that cannot be used: a missing or corrupt file, a checksum that does not match the manifest, a manifest
 * of a version this app does not read. The message is one sentence meant for the user's screen.
 */
public class BundleException extends Exception {
    private static final long serialVersionUID = 1L;

    public BundleException(String message) {
        super(message);
    }

    public BundleException(String message, Throwable cause) {
        super(message, cause);
    }
}
