// SPDX-License-Identifier: Apache-2.0
/*
 * init for the parity VM: runs every program in /cases (sorted by name), each in a
 * fresh working directory with stdout and stderr captured to files, then prints the
 * transcripts on the console framed by markers that test/parity/run parses:
 *
 *   @@@ CASE <name> BEGIN
 *   <the case's stdout>
 *   @@@ CASE <name> STDERR          (only when the case wrote to stderr)
 *   <the case's stderr>
 *   @@@ CASE <name> END <exited N | killed by SIGX | timeout>
 *   ...
 *   @@@ KERNEL-LOG                  (only when the kernel logged a warning or worse,
 *                                    or kmemleak found a leak; debug kernels only)
 *   @@@ DONE <number of cases>
 *
 * Then it reboots; QEMU runs with -no-reboot, so that ends the VM. (The kernel is
 * built without ACPI to keep it small, so power-off would only halt.)
 *
 * Built static: gcc -static -O2 -o init init.c
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CASE_DIR "/cases"
#define RUN_DIR "/tmp/run"
#define CASE_TIMEOUT_S 120

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

static void finish(void)
{
	fflush(stdout);
	sync();
	reboot(RB_AUTOBOOT);
	for (;;)
		pause();
}

static void copy_file(const char *path)
{
	char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return;
	fflush(stdout);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (write(1, buf, (size_t)n) != n)
			break;
	close(fd);
}

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : 0;
}

static volatile sig_atomic_t timed_out;
static void on_alarm(int sig)
{
	(void)sig;
	timed_out = 1;
}

static void run_case(const char *name)
{
	char exe[512], dir[512], out[512], err[512], status_text[64];
	int status = 0;
	pid_t pid, w;

	snprintf(exe, sizeof(exe), "%s/%s", CASE_DIR, name);
	snprintf(dir, sizeof(dir), "%s/%s", RUN_DIR, name);
	snprintf(out, sizeof(out), "%s/%s.out", RUN_DIR, name);
	snprintf(err, sizeof(err), "%s/%s.err", RUN_DIR, name);
	mkdir(dir, 0755);

	pid = fork();
	if (pid == 0) {
		int o = open(out, O_CREAT | O_TRUNC | O_WRONLY, 0644);
		int e = open(err, O_CREAT | O_TRUNC | O_WRONLY, 0644);
		int nul = open("/dev/null", O_RDONLY);

		setpgid(0, 0);
		if (o < 0 || e < 0 || chdir(dir) != 0)
			_exit(126);
		dup2(nul >= 0 ? nul : o, 0);
		dup2(o, 1);
		dup2(e, 2);
		closefrom(3);
		execl(exe, name, (char *)NULL);
		_exit(127);
	}

	timed_out = 0;
	alarm(CASE_TIMEOUT_S);
	do {
		w = waitpid(pid, &status, 0);
		if (w < 0 && errno == EINTR && timed_out)
			kill(-pid, SIGKILL);
	} while (w < 0 && errno == EINTR);
	alarm(0);
	kill(-pid, SIGKILL); /* anything the case left running */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;

	if (timed_out)
		snprintf(status_text, sizeof(status_text), "timeout");
	else if (WIFEXITED(status))
		snprintf(status_text, sizeof(status_text), "exited %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(status_text, sizeof(status_text), "killed by SIG%s",
			 sigabbrev_np(WTERMSIG(status)) ?: "?");
	else
		snprintf(status_text, sizeof(status_text), "status 0x%x", status);

	say("@@@ CASE %s BEGIN\n", name);
	copy_file(out);
	if (file_size(err) > 0) {
		say("@@@ CASE %s STDERR\n", name);
		copy_file(err);
	}
	say("@@@ CASE %s END %s\n", name, status_text);
}

/* Prints the kernel log if it holds a warning or worse (a bug the patch caused). */
static void check_kernel_log(void)
{
	static char buf[1 << 17];
	int n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, sizeof(buf) - 1);

	if (n <= 0)
		return;
	buf[n] = '\0';
	/* lockdep and atomic-sleep reports start with "WARNING:" or "BUG:" */
	if (strstr(buf, "WARNING:") || strstr(buf, "BUG:") || strstr(buf, "Call Trace") ||
	    strstr(buf, "Oops") || strstr(buf, "suspected memory leak")) {
		say("@@@ KERNEL-LOG\n");
		fflush(stdout);
		if (write(1, buf, (size_t)n) < 0)
			return;
		say("\n");
	}
}

#define KMEMLEAK "/sys/kernel/debug/kmemleak"

/* With CONFIG_DEBUG_KMEMLEAK (kernel/config/debug.config): forget what boot left behind. */
static int kmemleak_start(void)
{
	int fd = open(KMEMLEAK, O_WRONLY);

	if (fd < 0)
		return 0;
	sleep(6); /* kmemleak only reports objects older than 5 s */
	if (write(fd, "scan", 4) < 0 || write(fd, "clear", 5) < 0)
		say("kmemleak: cannot scan\n");
	close(fd);
	say("@@@ KMEMLEAK armed\n");
	return 1;
}

/* Reports what the corpus leaked, as a KERNEL-LOG block. */
static void kmemleak_report(void)
{
	static char buf[1 << 16];
	ssize_t n;
	int fd = open(KMEMLEAK, O_WRONLY);

	if (fd < 0)
		return;
	sleep(6);
	if (write(fd, "scan", 4) < 0 || write(fd, "scan", 4) < 0)
		say("kmemleak: cannot scan\n");
	close(fd);
	fd = open(KMEMLEAK, O_RDONLY);
	n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = '\0';
		say("@@@ KERNEL-LOG\nkmemleak:\n%s\n", buf);
	} else {
		say("@@@ KMEMLEAK no leaks\n");
	}
	if (fd >= 0)
		close(fd);
}

static int only_files(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct dirent **names;
	struct timespec t0, t1;
	int n, i, leakcheck;

	(void)argc;
	(void)argv;
	mkdir("/proc", 0555);
	mkdir("/dev", 0755);
	mkdir("/tmp", 01777);
	mount("proc", "/proc", "proc", 0, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	mount("tmpfs", "/tmp", "tmpfs", 0, "mode=1777");
	mkdir("/sys", 0555);
	if (mount("sysfs", "/sys", "sysfs", 0, NULL) == 0)
		mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	mkdir(RUN_DIR, 0755);
	chmod(RUN_DIR, 0755);
	sigaction(SIGALRM, &sa, NULL);
	setenv("PATH", "/cases:/", 1);

	say("@@@ INIT\n");
	if (argc > 1 && strcmp(argv[1], "probe") == 0)
		finish();

	leakcheck = kmemleak_start();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	n = scandir(CASE_DIR, &names, only_files, alphasort);
	for (i = 0; i < n; i++)
		run_case(names[i]->d_name);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (leakcheck)
		kmemleak_report();
	check_kernel_log();
	say("@@@ DONE %d cases in %.1fs\n", n < 0 ? 0 : n,
	    (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	finish();
	return 0;
}
