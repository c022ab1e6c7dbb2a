package org.ondevice.demo;

import android.content.Context;
import android.os.BatteryManager;
import android.os.Build;
import java.io.BufferedReader;
import java.io.FileReader;
import java.io.IOException;
import java.text.SimpleDateFormat;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TimeZone;
import org.ondevice.core.BenchmarkRecord;

/** What the benchmark record says about the device: android.os.Build, and /proc and /sys where an app may read them. */
final class DeviceFacts {
    private DeviceFacts() {}

    static Map<String, Object> describe() {
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("model", Build.MANUFACTURER + " " + Build.MODEL);
        d.put("soc", Build.VERSION.SDK_INT >= 31 ? Build.SOC_MANUFACTURER + " " + Build.SOC_MODEL : Build.HARDWARE);
        d.put("abi", Build.SUPPORTED_ABIS[0]);
        d.put("os", "Android " + Build.VERSION.RELEASE + " (API " + Build.VERSION.SDK_INT + ")");
        d.put("kernel", System.getProperty("os.version"));
        int cores = Runtime.getRuntime().availableProcessors();
        d.put("cores", cores);
        List<Object> freqs = new ArrayList<>();
        for (int i = 0; i < cores; i++) {
            String khz = firstLine("/sys/devices/system/cpu/cpu" + i + "/cpufreq/cpuinfo_max_freq");
            freqs.add(khz == null ? null : Long.parseLong(khz.trim()));
        }
        d.put("max_freq_khz", freqs);
        d.put("governor", firstLine("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"));
        d.put("manufacturer", Build.MANUFACTURER);
        d.put("device", Build.DEVICE);
        d.put("board", Build.BOARD);
        d.put("hardware", Build.HARDWARE);
        d.put("abis", Arrays.<Object>asList((Object[]) Build.SUPPORTED_ABIS));
        d.put("fingerprint", Build.FINGERPRINT);
        return d;
    }

    /** Emulator images: their latencies are the host's, not a phone's. */
    static boolean isEmulator() {
        return Build.FINGERPRINT.startsWith("generic")
                || Build.HARDWARE.contains("goldfish")
                || Build.HARDWARE.contains("ranchu")
                || Build.PRODUCT.contains("sdk");
    }

    static Integer batteryPercent(Context context) {
        BatteryManager bm = (BatteryManager) context.getSystemService(Context.BATTERY_SERVICE);
        int level = bm == null ? Integer.MIN_VALUE : bm.getIntProperty(BatteryManager.BATTERY_PROPERTY_CAPACITY);
        return level == Integer.MIN_VALUE || level < 0 ? null : level;
    }

    /** The battery's temperature: the one temperature every app may read (CPU thermal zones often are not). */
    static Double batteryTemperatureC(Context context) {
        android.content.Intent battery = context.registerReceiver(null,
                new android.content.IntentFilter(android.content.Intent.ACTION_BATTERY_CHANGED));
        int tenths = battery == null ? -1 : battery.getIntExtra(BatteryManager.EXTRA_TEMPERATURE, -1);
        return tenths < 0 ? null : tenths / 10.0;
    }

    static Long peakRssBytes() {
        StringBuilder status = new StringBuilder();
        try (BufferedReader in = new BufferedReader(new FileReader("/proc/self/status"))) {
            for (String line; (line = in.readLine()) != null; ) {
                status.append(line).append('\n');
            }
            return BenchmarkRecord.peakRssBytes(status.toString());
        } catch (IOException | RuntimeException e) {
            return null; // not readable on this device: the record says null
        }
    }

    /** ISO-8601 UTC to the second, as the Python side writes it. */
    static String utcNow() {
        SimpleDateFormat f = new SimpleDateFormat("yyyy-MM-dd'T'HH:mm:ss'+00:00'", Locale.ROOT);
        f.setTimeZone(TimeZone.getTimeZone("UTC"));
        return f.format(new Date());
    }

    private static String firstLine(String path) {
        try (BufferedReader in = new BufferedReader(new FileReader(path))) {
            return in.readLine();
        } catch (IOException | RuntimeException e) {
            return null; // SELinux keeps some of /sys from apps
        }
    }
}
