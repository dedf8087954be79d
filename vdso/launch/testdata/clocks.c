// clocks reads each clock through the C library (the vDSO it was given)
// between two raw system calls, and says where its vDSO is.
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

static long long ns(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

int main(void) {
	static const struct { const char *name; clockid_t id; } clocks[] = {
		{"realtime", CLOCK_REALTIME},
		{"monotonic", CLOCK_MONOTONIC},
		{"boottime", CLOCK_BOOTTIME},
	};
	unsigned long ehdr = getauxval(AT_SYSINFO_EHDR);
	printf("ehdr %lx\n", ehdr);
	for (unsigned i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
		struct timespec a, v, b;
		syscall(SYS_clock_gettime, clocks[i].id, &a);
		clock_gettime(clocks[i].id, &v);
		syscall(SYS_clock_gettime, clocks[i].id, &b);
		printf("clock %s %lld %lld %lld\n", clocks[i].name, ns(a), ns(v), ns(b));
	}
	// gettimeofday and time read REALTIME through their own entries.
	struct timespec a, b;
	struct timeval tv;
	syscall(SYS_clock_gettime, CLOCK_REALTIME, &a);
	gettimeofday(&tv, NULL);
	syscall(SYS_clock_gettime, CLOCK_REALTIME, &b);
	printf("clock gettimeofday %lld %lld %lld\n", ns(a), tv.tv_sec * 1000000000LL + tv.tv_usec * 1000LL, ns(b));
	syscall(SYS_clock_gettime, CLOCK_REALTIME, &a);
	time_t now = time(NULL);
	syscall(SYS_clock_gettime, CLOCK_REALTIME, &b);
	printf("clock time %lld %lld %lld\n", ns(a), (long long)now * 1000000000LL, ns(b));
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	while (f && fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx", &lo, &hi) != 2)
			continue;
		if (lo == ehdr)
			printf("map %s", line);
		if (hi == ehdr)
			printf("below %s", line);
		if (strstr(line, "vdso"))
			printf("vdso %s", line);
	}
	return 0;
}
