package org.ondevice.core;

import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;

/**
 * A bundle in a directory: what {@code ondevice export} writes. Only files inside the directory are opened: a plain
 * name that leads elsewhere (a symbolic link out of it) or to something that is not a regular file is refused.
 */
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
        if (!Manifest.isPlainName(name)) {
            throw new IOException("'" + name + "' is not a plain file name inside the bundle; refused");
        }
        File f = file(name);
        if (!f.exists()) {
            return new FileInputStream(f); // FileNotFoundException, which callers report as a missing file
        }
        File real = f.getCanonicalFile();
        if (!isInside(real, dir.getCanonicalFile())) {
            throw new IOException("a symbolic link to " + real + ", outside the bundle; refused");
        }
        if (!real.isFile()) {
            throw new IOException("not a regular file; refused");
        }
        return new FileInputStream(real);
    }

    private static boolean isInside(File f, File root) {
        for (File p = f.getParentFile(); p != null; p = p.getParentFile()) {
            if (p.equals(root)) {
                return true;
            }
        }
        return false;
    }

    @Override
    public String location() {
        return dir.getPath();
    }
}
