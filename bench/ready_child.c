/* The baseline's child: the smallest program that tells its parent "ready"
 * (one byte on fd 3) and then waits to be killed. */
#include <unistd.h>

int main(void) {
  char c = 'R';
  if (write(3, &c, 1) != 1) return 1;
  for (;;) pause();
}
