// SPDX-License-Identifier: GPL-2.0
/*
 * inkernel-run: run one KVM selftest inside the test guest, in its own
 * session and process group, with a timeout, and print one
 * machine-readable result line.
 *
 * usage: inkernel-run TIMEOUT_SECONDS NAME OUTFILE PROGRAM [ARGS...]
 *
 * The program's stdout and stderr go to OUTFILE, its stdin is /dev/null.
 * When it runs past the timeout, or when it exits and leaves processes
 * behind, the whole process group is killed: `timeout` alone kills only
 * the harness parent, and a forked kselftest child can spin on.  This
 * process is a child subreaper, so that it also reaps what was left.
 *
 * Result line, on stdout:
 *   @@inkernel-result NAME RC SECONDS HOW
 * RC is the exit status; 128+N for a signal N; 124 on a timeout.
 * HOW is "exit", "signal" or "timeout".
 *
 * Built statically by scripts/inkernel.sh for the initramfs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t timed_out;

static void on_alarm(int sig)
{
	(void)sig;
	timed_out = 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Kill the group and reap every child left, for at most a few seconds. */
static void kill_and_reap(pid_t pgid)
{
	int i;

	kill(-pgid, SIGKILL);
	for (i = 0; i < 50; i++) {
		pid_t p = waitpid(-1, NULL, WNOHANG);

		if (p < 0 && errno == ECHILD)
			return;
		if (p <= 0)
			usleep(100000);
	}
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	const char *name, *outfile;
	int timeout, status, rc, fd;
	const char *how;
	double t0, secs;
	pid_t pid, w;

	if (argc < 5) {
		fprintf(stderr, "usage: %s TIMEOUT NAME OUTFILE PROGRAM [ARGS...]\n", argv[0]);
		return 2;
	}
	timeout = atoi(argv[1]);
	name = argv[2];
	outfile = argv[3];
	if (timeout <= 0)
		timeout = 60;

	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;	/* no SA_RESTART: waitpid returns EINTR */
	sigaction(SIGALRM, &sa, NULL);

	t0 = now();
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 2;
	}
	if (pid == 0) {
		setsid();
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0)
			dup2(fd, 0);
		fd = open(outfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[4], argv + 4);
		fprintf(stderr, "inkernel-run: cannot execute %s: %s\n", argv[4], strerror(errno));
		_exit(127);
	}

	alarm(timeout);
	for (;;) {
		w = waitpid(pid, &status, 0);
		if (w == pid)
			break;
		if (w < 0 && errno == EINTR && timed_out) {
			kill(-pid, SIGKILL);
			waitpid(pid, &status, 0);
			break;
		}
		if (w < 0 && errno != EINTR) {
			perror("waitpid");
			return 2;
		}
	}
	alarm(0);
	secs = now() - t0;
	kill_and_reap(pid);

	if (timed_out) {
		rc = 124;
		how = "timeout";
	} else if (WIFSIGNALED(status)) {
		rc = 128 + WTERMSIG(status);
		how = "signal";
	} else {
		rc = WEXITSTATUS(status);
		how = "exit";
	}
	printf("@@inkernel-result %s %d %.2f %s\n", name, rc, secs, how);
	fflush(stdout);
	return 0;
}
