package org.ondevice.demo;

import android.content.res.AssetManager;
import java.io.IOException;
import java.io.InputStream;
import org.ondevice.core.BundleSource;

/** The bundle as `ondevice export --target android --copy-to app/src/main/assets/ondevice` puts it in the APK. */
final class AssetSource implements BundleSource {
    /** The assets folder the toolchain copies the bundle into. */
    static final String DIR = "ondevice";

    private final AssetManager assets;

    AssetSource(AssetManager assets) {
        this.assets = assets;
    }

    AssetManager assets() {
        return assets;
    }

    static String path(String name) {
        return DIR + "/" + name;
    }

    @Override
    public InputStream open(String name) throws IOException {
        return assets.open(path(name)); // FileNotFoundException when absent
    }

    @Override
    public String location() {
        return "the app's assets (" + DIR + "/)";
    }
}
