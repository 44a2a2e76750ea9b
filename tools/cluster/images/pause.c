/* The pod sandbox's first process (what containerd's sandbox_image runs): it holds the pod's
 * namespaces open, reaps orphaned children (PID 1 of a pod that shares its process namespace),
 * and exits cleanly on SIGINT/SIGTERM. sessionstack's own: the registry's pause image cannot be
 * pulled here. Built static with the machine's gcc by images.py. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }

static void reap(int sig) {
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        static const char version[] = "sessionstack-pause 1\n";
        return write(STDOUT_FILENO, version, sizeof version - 1) < 0;
    }
    if (getpid() != 1) {
        static const char warning[] = "pause: not running as PID 1\n";
        if (write(STDERR_FILENO, warning, sizeof warning - 1) < 0) return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = stop;
    if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0) return 1;
    sa.sa_handler = reap;
    sa.sa_flags = SA_NOCLDSTOP;
    if (sigaction(SIGCHLD, &sa, NULL) < 0) return 2;
    for (;;) pause();
}
