"""Profiling: run exported artifacts on a target and record what they cost, in one result format.

- ``targets``: where to run, from ``profiles/targets/*.toml``.
- ``record``: the versioned result record every target writes and ``ondevice report`` reads.
- ``runners``: the runner command-line contract, jobs, and reading a runner's output.
- ``cpp/runner.cpp`` + ``native``: the native ExecuTorch runner and its build; ``pyrunner``: the
  Python-runtime runner with the same contract, a script over the converters' run halves.
- ``profiler``: plans jobs and drives a target's backend; ``report``: tables and plots.

A backend for a target kind (``host.HostBackend``, ``qemu.QemuBackend``, ``android.AndroidBackend``)
is a class ``Backend(target, status)`` with:

- ``prepare(jobs)``: everything the jobs need (build the runner, set up the emulator, push files);
- ``device() -> dict``: the record's device facts (model, soc, abi, os, kernel, cores, max_freq_khz, governor);
- ``sensors() -> dict``: ``temperature_c`` and ``battery`` now (read before and after each job);
- ``run(job) -> dict``: the runner's JSON output; ``runners.RunnerFailed`` (with ``partial``) on failure;
- ``runtime(job, result) -> dict``: the record's runtime section (name, version, runner, runner_version);
- ``close()``: clean up (always called).
"""
