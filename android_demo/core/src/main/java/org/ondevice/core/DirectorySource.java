package org.ondevice.core;

import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;

/** A bundle in a directory: what {@code ondevice export} writes. */
public final class DirectorySource implements BundleSource {
    private final File dir;

    public DirectorySource(File dir) {
        this.dir = dir;
    }

    public File file(String name) {
        return new File(dir, name);
    }

    @Override
    public InputStream open(String name) throws IOException {
        return new FileInputStream(file(name));
    }

    @Override
    public String location() {
        return dir.getPath();
    }
}
