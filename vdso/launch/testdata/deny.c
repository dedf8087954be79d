// deny runs argv[2:] under a seccomp filter that makes the system call
// named by argv[1] (ptrace or openat) fail with EPERM, as a container's
// policy or a sandbox may.
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: deny ptrace|openat prog [args...]\n");
		return 125;
	}
	unsigned nr;
	if (strcmp(argv[1], "ptrace") == 0)
		nr = __NR_ptrace;
	else if (strcmp(argv[1], "openat") == 0)
		nr = __NR_openat;
	else {
		fprintf(stderr, "deny: unknown system call %s\n", argv[1]);
		return 125;
	}
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof filter / sizeof filter[0], .filter = filter};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
		perror("deny");
		return 125;
	}
	execv(argv[2], argv + 2);
	perror("deny: execv");
	return 126;
}
