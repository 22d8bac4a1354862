/* The exec restart benchmark's command: the same tiny program under dynmgr
 * and under daemontools' supervise. It says it is ready on stdout (dynmgr's
 * start-up handshake; supervise's stdout goes nowhere), writes its pid to the
 * FIFO argv[1] (under supervise, which passes no argument: ./fifo in its
 * service directory) and waits to be killed. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char** argv) {
  const char* fifo = argc > 1 ? argv[1] : "fifo";
  static const char ready[] = "{\"ready\":true}\n";
  (void)!write(1, ready, sizeof ready - 1);
  const int fd = open(fifo, O_WRONLY);
  if (fd < 0) return 1;
  const pid_t pid = getpid();
  if (write(fd, &pid, sizeof pid) != (ssize_t)sizeof pid) return 1;
  close(fd);
  for (;;) pause();
}
