// backtrace loads a vdsogen ELF image with dlopen (so that the unwinders
// find its PT_GNU_EH_FRAME through dl_iterate_phdr, as they find the
// kernel's vDSO), calls entry ENTRY with a pointer to an unreadable page,
// and, in the SIGSEGV handler the fault raises inside the image, walks the
// stack with glibc's backtrace() and with libgcc's _Unwind_Backtrace. It
// prints one line per frame, "<unwinder> <n> <address> <symbol> <offset
// from the object's load address>", then
// "done". Usage: backtrace IMAGE.so ENTRY
//
// With a third argument N it calls ENTRY with N instead (for a routine
// that spins N times, for a profiler) ten times and prints "done".
#define _GNU_SOURCE
#include <dlfcn.h>
#include <execinfo.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unwind.h>

static sigjmp_buf env;

static void show(const char *who, int i, void *pc) {
	Dl_info info;
	const char *name = "?";
	uintptr_t off = 0;
	if (dladdr(pc, &info)) {
		if (info.dli_sname)
			name = info.dli_sname;
		off = (uintptr_t)pc - (uintptr_t)info.dli_fbase;
	}
	printf("%s %d %p %s %#lx\n", who, i, pc, name, (unsigned long)off);
}

struct walk {
	int n;
};

static _Unwind_Reason_Code frame(struct _Unwind_Context *ctx, void *arg) {
	struct walk *w = arg;
	show("unwind", w->n++, (void *)_Unwind_GetIP(ctx));
	return w->n < 64 ? _URC_NO_REASON : _URC_END_OF_STACK;
}

static void handler(int sig, siginfo_t *si, void *uc) {
	void *pcs[64];
	int n = backtrace(pcs, 64);
	for (int i = 0; i < n; i++)
		show("backtrace", i, pcs[i]);
	struct walk w = {0};
	_Unwind_Backtrace(frame, &w);
	fflush(stdout);
	siglongjmp(env, 1);
}

int main(int argc, char **argv) {
	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: backtrace IMAGE.so ENTRY [N]\n");
		return 2;
	}
	void *h = dlopen(argv[1], RTLD_NOW);
	if (!h) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 2;
	}
	int64_t (*entry)(void *) = (int64_t (*)(void *))dlsym(h, argv[2]);
	if (!entry) {
		fprintf(stderr, "dlsym %s: %s\n", argv[2], dlerror());
		return 2;
	}
	if (argc == 4) {
		long n = atol(argv[3]);
		for (int i = 0; i < 10; i++)
			entry((void *)n);
		printf("done\n");
		return 0;
	}
	void *bad = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (bad == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	struct sigaction sa = {0};
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
	if (sigsetjmp(env, 1) == 0) {
		int64_t r = entry(bad);
		fprintf(stderr, "%s returned %lld without faulting\n", argv[2], (long long)r);
		return 1;
	}
	printf("done\n");
	return 0;
}
