"""Timing, thread settings and the machine description shared by the benchmark scripts.

This module imports NumPy only inside functions, so a script can call
``set_thread_count`` before NumPy or PyTorch loads.
"""

import json
import math
import os
import platform
import statistics
import time

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def set_thread_count(threads):
    """Set the thread count of OpenBLAS, MKL and OpenMP through the environment.

    These libraries read it once, when they load, so call this before
    importing numpy or torch. PyTorch also needs ``torch.set_num_threads``.
    """
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)


def summarize(seconds):
    """Return the median, quartiles, min and max of a list of timings, and the list itself."""
    values = sorted(float(s) for s in seconds)
    if len(values) > 1:
        q25, median, q75 = statistics.quantiles(values, n=4, method="inclusive")
    else:
        q25 = median = q75 = values[0]
    return {"median": median, "q25": q25, "q75": q75, "min": values[0], "max": values[-1],
            "all": values}


def time_candidates(candidates, repeats, block_seconds, warm_up_each_repeat=True):
    """Time each zero-argument function and return {name: summarize(seconds per call)}.

    One untimed call warms each candidate up and sets how many calls fill a
    block of about ``block_seconds``. In each of ``repeats`` rounds the
    candidates take turns, each with one untimed call (unless
    ``warm_up_each_repeat`` is False) and then one timed block, so a change in
    machine load affects all of them alike.
    """
    calls = {}
    for name, run in candidates.items():
        start = time.perf_counter()
        run()
        once = time.perf_counter() - start
        calls[name] = max(1, math.ceil(block_seconds / max(once, 1e-7)))
    seconds = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, run in candidates.items():
            if warm_up_each_repeat:
                run()
            count = calls[name]
            start = time.perf_counter()
            for _ in range(count):
                run()
            seconds[name].append((time.perf_counter() - start) / count)
    return {name: summarize(values) for name, values in seconds.items()}


def cpu_model():
    """Return the CPU model name from /proc/cpuinfo, or platform's guess elsewhere."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def numpy_blas():
    """Return NumPy's BLAS name, version and build configuration, as numpy.show_config reports them."""
    import numpy as np

    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except (TypeError, KeyError):  # show_config has no mode argument before NumPy 1.25
        return "unknown"
    return f"{blas.get('name')} {blas.get('version')} ({blas.get('openblas configuration', '')})".strip()


def blas_threads():
    """Return threadpoolctl's view of the loaded BLAS and OpenMP pools, or None without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    keys = ("internal_api", "version", "num_threads", "architecture", "filepath")
    return [{k: pool.get(k) for k in keys} for pool in threadpool_info()]


def describe_machine(torch, threads):
    """Return a dict with the CPU, cores, library versions, BLAS, thread settings and load average."""
    import numpy as np

    info = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numpy_blas": numpy_blas(),
        "threads": threads,
        "environment": {name: os.environ.get(name) for name in (
            *THREAD_VARIABLES, "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
            "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_")},
        "threadpoolctl": blas_threads(),
        "load_average_start": os.getloadavg(),
    }
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["torch_blas"] = "MKL" if torch.backends.mkl.is_available() else "not MKL"
        info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    return info


def write_json(path, data):
    """Write ``data`` as indented JSON."""
    with open(path, "w") as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")
