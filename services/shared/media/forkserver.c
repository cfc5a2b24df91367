/* A fork server for ffprobe, preloaded into ffprobe itself (see forkserver.py).
 *
 * Why: Debian's ffprobe links 215 shared libraries, and every start spends ~100 CPU-ms in
 * the dynamic loader and the libraries' constructors before main() (perf: two thirds of it
 * in ld.so resolving 43,104 relocations). Ingest starts one per upload. This library lets
 * one ffprobe load once and then fork a ready copy per run: each run is still Debian's
 * ffprobe, its own main() on its own argv, in its own process.
 *
 * Only with REELFLOW_FORKSERVER_FD set does it do anything. Then ffprobe's main() is not
 * run in this process; instead the process serves the control socket on that fd
 * (SOCK_SEQPACKET):
 *   request: one message, argv as NUL-terminated strings, carrying three descriptors
 *            (SCM_RIGHTS): the run's reply socket, its stdout, its stderr;
 *   reply:   int32 pid (or -errno when it could not fork), then int32 exit status
 *            (the code, or -signal) once the run ended, then the reply socket closes.
 *   The requester may write one byte, a signal number, to the reply socket to signal the
 *   run; if it closes the reply socket, the run is killed.
 * The server writes "R" on the control socket once ready, and exits when it closes. Every
 * run dies with the server (PR_SET_PDEATHSIG), as the server dies with its parent, whose
 * pid is REELFLOW_FORKSERVER_PARENT.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

typedef int (*main_fn)(int, char **, char **);
typedef int (*start_fn)(main_fn, int, char **, void (*)(void), void (*)(void),
                        void (*)(void), void *);

enum { MAX_ARGS = 1024, MAX_MESSAGE = 65536, MAX_RUNS = 4096 };

static main_fn program_main;
static pid_t run_pid[MAX_RUNS];
static int run_reply[MAX_RUNS];

/* In a run: the requester's byte is a signal to raise; its hang-up a SIGKILL. The run
 * signals itself, so no pid is ever signalled after it was reaped. */
static void *obey_requester(void *arg) {
    int reply = (int)(intptr_t)arg;
    unsigned char sig;
    for (;;) {
        ssize_t n = recv(reply, &sig, 1, 0);
        if (n == 1) {
            kill(getpid(), sig);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            kill(getpid(), SIGKILL);
            return NULL;
        }
    }
}

static void become_run(pid_t server, int control, int signals, const sigset_t *blocked,
                       int fds[3], int argc, char **argv) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != server) _exit(127); /* the server died before the prctl */
    close(control);
    close(signals);
    for (int i = 0; i < MAX_RUNS; i++)
        if (run_pid[i]) close(run_reply[i]); /* other runs' sockets */
    sigprocmask(SIG_UNBLOCK, blocked, NULL);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(fds[1], 1) < 0 || dup2(fds[2], 2) < 0)
        _exit(127);
    close(devnull);
    close(fds[1]);
    close(fds[2]);
    pthread_t watcher;
    if (pthread_create(&watcher, NULL, obey_requester, (void *)(intptr_t)fds[0]) != 0)
        _exit(127);
    exit(program_main(argc, argv, environ));
}

static void report_ended(void) {
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (int i = 0; i < MAX_RUNS; i++) {
            if (run_pid[i] != pid) continue;
            int32_t code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
            send(run_reply[i], &code, sizeof code, MSG_NOSIGNAL);
            close(run_reply[i]);
            run_pid[i] = 0;
            break;
        }
    }
}

/* One request; returns 0 when the control socket closed. */
static int start_run(int control, int signals, const sigset_t *blocked) {
    static char message[MAX_MESSAGE];
    static char *argv[MAX_ARGS + 1];
    union { char bytes[CMSG_SPACE(3 * sizeof(int))]; struct cmsghdr align; } ancillary;
    struct iovec iov = {message, sizeof message - 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ancillary.bytes,
                         .msg_controllen = sizeof ancillary.bytes};
    ssize_t n = recvmsg(control, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0) return errno == EINTR || errno == EAGAIN;
    if (n == 0) return 0;
    int fds[3] = {-1, -1, -1}, count = 0;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        memcpy(fds, CMSG_DATA(c), sizeof(int) * (count < 3 ? count : 3));
    }
    if (count != 3 || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || message[n - 1] != '\0') {
        for (int i = 0; i < count && i < 3; i++) close(fds[i]);
        return 1; /* malformed: the requester sees its reply socket close */
    }
    int argc = 0;
    for (char *s = message; s < message + n && argc < MAX_ARGS; s += strlen(s) + 1)
        argv[argc++] = s;
    argv[argc] = NULL;
    int slot = -1;
    for (int i = 0; i < MAX_RUNS && slot < 0; i++)
        if (!run_pid[i]) slot = i;
    int32_t answer = -EAGAIN;
    pid_t server = getpid();
    pid_t pid = slot < 0 ? -1 : fork();
    if (pid == 0) become_run(server, control, signals, blocked, fds, argc, argv);
    if (pid < 0 && slot >= 0) answer = -errno;
    close(fds[1]);
    close(fds[2]);
    if (pid > 0) {
        answer = pid;
        run_pid[slot] = pid;
        run_reply[slot] = fds[0];
    }
    send(fds[0], &answer, sizeof answer, MSG_NOSIGNAL);
    if (pid <= 0) close(fds[0]);
    return 1;
}

static int serve(int argc, char **argv, char **envp) {
    (void)argc, (void)argv, (void)envp;
    int control = atoi(getenv("REELFLOW_FORKSERVER_FD"));
    const char *parent = getenv("REELFLOW_FORKSERVER_PARENT");
    /* Dies with the service that started it, so no run outlives the service either. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (!parent || getppid() != (pid_t)atoi(parent)) return 1;
    /* The runs see the environment the server was given, without the server's own. */
    unsetenv("REELFLOW_FORKSERVER_FD");
    unsetenv("REELFLOW_FORKSERVER_PARENT");
    unsetenv("LD_PRELOAD");
    unsetenv("LD_BIND_NOW");
    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGCHLD);
    sigprocmask(SIG_BLOCK, &blocked, NULL);
    int signals = signalfd(-1, &blocked, SFD_CLOEXEC);
    if (signals < 0 || send(control, "R", 1, MSG_NOSIGNAL) != 1) return 1;
    for (;;) {
        struct pollfd watch[2] = {{control, POLLIN, 0}, {signals, POLLIN, 0}};
        if (poll(watch, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return 1;
        }
        if (watch[1].revents) {
            struct signalfd_siginfo info;
            if (read(signals, &info, sizeof info) < 0 && errno != EAGAIN) return 1;
            report_ended();
        }
        if (watch[0].revents && !start_run(control, signals, &blocked)) return 0;
    }
}

/* Called by the program's _start once every library is loaded and constructed. */
int __libc_start_main(main_fn main, int argc, char **argv, void (*init)(void),
                      void (*fini)(void), void (*rtld_fini)(void), void *stack_end) {
    start_fn libc_start = (start_fn)dlsym(RTLD_NEXT, "__libc_start_main");
    if (!getenv("REELFLOW_FORKSERVER_FD"))
        return libc_start(main, argc, argv, init, fini, rtld_fini, stack_end);
    program_main = main;
    return libc_start(serve, argc, argv, init, fini, rtld_fini, stack_end);
}
