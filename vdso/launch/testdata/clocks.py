# Reads CLOCK_MONOTONIC and CLOCK_REALTIME through Python's time module
# (the C library, the vDSO it was given) between two raw system calls.
import ctypes
import time

libc = ctypes.CDLL(None, use_errno=True)


class Timespec(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("nsec", ctypes.c_long)]


def kernel(clock):
    ts = Timespec()
    if libc.syscall(228, clock, ctypes.byref(ts)) != 0:  # SYS_clock_gettime
        raise OSError(ctypes.get_errno(), "clock_gettime")
    return ts.sec * 10**9 + ts.nsec


def ns(seconds):
    return int(round(seconds * 1e9))


for name, clock, read in [
    ("monotonic", time.CLOCK_MONOTONIC, lambda: ns(time.monotonic())),
    ("monotonic_clock_gettime", time.CLOCK_MONOTONIC, lambda: ns(time.clock_gettime(time.CLOCK_MONOTONIC))),
    ("boottime_clock_gettime", time.CLOCK_BOOTTIME, lambda: ns(time.clock_gettime(time.CLOCK_BOOTTIME))),
    ("realtime", time.CLOCK_REALTIME, time.time_ns),
]:
    a = kernel(clock)
    v = read()
    b = kernel(clock)
    print("clock", name, a, v, b)
