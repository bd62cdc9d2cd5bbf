/*
 * STUN Binding load generator for bench/stun-vs-coturn.ts, compiled at bench time (gcc -O2).
 * Closed loop: SOCKETS connected UDP sockets each keep WINDOW Binding requests (20 bytes, no
 * attributes, unique transaction ids) outstanding, sent and received in batches of up to 64 with
 * sendmmsg/recvmmsg, so one core of this generator outruns a server that pays a syscall and a
 * wake-up per datagram. A socket that got nothing for 100 ms is assumed to have lost its window
 * and is refilled. Responses are counted after WARMUP seconds for SECONDS seconds.
 *
 *   stun-flood HOST PORT SOCKETS WINDOW SECONDS WARMUP
 *   → "responses N seconds S rate R cpu C"   (C: this process's CPU seconds)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAX_SOCKETS 64

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static uint32_t next_id = 1;

/* Send up to n requests on fd; returns how many the kernel took. */
static int send_n(int fd, int n) {
  static unsigned char bufs[BATCH][20];
  static struct iovec iov[BATCH];
  static struct mmsghdr msgs[BATCH];
  int done = 0;
  while (done < n) {
    int k = n - done < BATCH ? n - done : BATCH;
    for (int i = 0; i < k; i++) {
      unsigned char *b = bufs[i];
      memset(b, 0, 20);
      b[1] = 0x01;                          /* Binding request, length 0 */
      b[4] = 0x21; b[5] = 0x12; b[6] = 0xa4; b[7] = 0x42; /* magic cookie */
      uint32_t id = next_id++;
      memcpy(b + 8, &id, 4);
      iov[i].iov_base = b;
      iov[i].iov_len = 20;
      memset(&msgs[i], 0, sizeof msgs[i]);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int r = sendmmsg(fd, msgs, k, MSG_DONTWAIT);
    if (r <= 0) break;
    done += r;
  }
  return done;
}

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: stun-flood HOST PORT SOCKETS WINDOW SECONDS WARMUP\n");
    return 2;
  }
  int nsock = atoi(argv[3]), window = atoi(argv[4]);
  double seconds = atof(argv[5]), warmup = atof(argv[6]);
  if (nsock < 1 || nsock > MAX_SOCKETS || window < 1) return 2;
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
  if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1) return 2;
  struct pollfd pfd[MAX_SOCKETS];
  int inflight[MAX_SOCKETS];
  double last_rx[MAX_SOCKETS];
  double start = now_s();
  for (int i = 0; i < nsock; i++) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int buf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    if (fd < 0 || connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0) return 1;
    pfd[i].fd = fd;
    pfd[i].events = POLLIN;
    inflight[i] = send_n(fd, window);
    last_rx[i] = start;
  }
  static unsigned char rbufs[BATCH][512];
  static struct iovec riov[BATCH];
  static struct mmsghdr rmsgs[BATCH];
  for (int i = 0; i < BATCH; i++) {
    riov[i].iov_base = rbufs[i];
    riov[i].iov_len = sizeof rbufs[i];
    rmsgs[i].msg_hdr.msg_iov = &riov[i];
    rmsgs[i].msg_hdr.msg_iovlen = 1;
  }
  long counted = 0;
  double t0 = start + warmup, t1 = t0 + seconds;
  for (;;) {
    double t = now_s();
    if (t >= t1) break;
    if (poll(pfd, nsock, 100) < 0) return 1;
    t = now_s();
    for (int i = 0; i < nsock; i++) {
      if (pfd[i].revents & POLLIN) {
        int r = recvmmsg(pfd[i].fd, rmsgs, BATCH, MSG_DONTWAIT, NULL);
        if (r > 0) {
          if (t >= t0 && t < t1) counted += r;
          inflight[i] -= r;
          last_rx[i] = t;
          inflight[i] += send_n(pfd[i].fd, window - inflight[i] > 0 ? window - inflight[i] : 0);
        }
      } else if (t - last_rx[i] > 0.1) {
        /* Nothing for 100 ms: the window was lost (server queue full); send it again. */
        inflight[i] = send_n(pfd[i].fd, window);
        last_rx[i] = t;
      }
    }
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  printf("responses %ld seconds %.3f rate %.0f cpu %.3f\n", counted, seconds, counted / seconds, cpu);
  return 0;
}
