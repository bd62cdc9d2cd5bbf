/*
 * nfq-delay: hold every packet of an NFQUEUE for a fixed delay (± jitter), then accept it.
 *
 * netsim's delay line. The kernel here has no tc netem, but it has the iptables NFQUEUE target:
 * rules send a link's packets to queue N, and this program gives each packet its verdict
 * (NF_ACCEPT) only when its time has come, so the packet continues exactly where it left the
 * stack. With `--queue-bypass` on the rule, packets pass undelayed if this program is gone.
 *
 * usage: nfq-delay QUEUE DELAY_US JITTER_US MAX_HELD
 * Prints "ready" on stdout once bound to the queue. Packets beyond MAX_HELD are dropped (a full
 * router queue tail-drops too). Each packet's delay is uniform in DELAY ± JITTER, so jitter
 * reorders packets, as netem does.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct held {
  uint64_t due_ns;
  uint32_t id;
};

static struct held *heap;
static size_t held_count, max_held;
static uint64_t delay_ns, jitter_ns;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A binary min-heap on due time: jitter makes due times arrive out of order. */
static void heap_push(struct held h) {
  size_t i = held_count++;
  heap[i] = h;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (heap[p].due_ns <= heap[i].due_ns) break;
    struct held t = heap[p];
    heap[p] = heap[i];
    heap[i] = t;
    i = p;
  }
}

static struct held heap_pop(void) {
  struct held top = heap[0];
  heap[0] = heap[--held_count];
  size_t i = 0;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < held_count && heap[l].due_ns < heap[m].due_ns) m = l;
    if (r < held_count && heap[r].due_ns < heap[m].due_ns) m = r;
    if (m == i) break;
    struct held t = heap[m];
    heap[m] = heap[i];
    heap[i] = t;
    i = m;
  }
  return top;
}

static uint64_t packet_delay(void) {
  if (jitter_ns == 0) return delay_ns;
  /* uniform in [delay - jitter, delay + jitter]; jitter <= delay is checked by the caller */
  uint64_t span = 2 * jitter_ns + 1;
  uint64_t r = ((uint64_t)random() << 31 | (uint64_t)random()) % span;
  return delay_ns - jitter_ns + r;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa, void *data) {
  (void)msg;
  (void)data;
  struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
  if (ph == NULL) return 0;
  uint32_t id = ntohl(ph->packet_id);
  if (held_count >= max_held) return nfq_set_verdict(qh, id, NF_DROP, 0, NULL);
  struct held h = {now_ns() + packet_delay(), id};
  heap_push(h);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: nfq-delay QUEUE DELAY_US JITTER_US MAX_HELD\n");
    return 2;
  }
  uint16_t queue = (uint16_t)strtoul(argv[1], NULL, 10);
  delay_ns = strtoull(argv[2], NULL, 10) * 1000ull;
  jitter_ns = strtoull(argv[3], NULL, 10) * 1000ull;
  max_held = strtoul(argv[4], NULL, 10);
  if (jitter_ns > delay_ns || max_held == 0) {
    fprintf(stderr, "nfq-delay: need JITTER <= DELAY and MAX_HELD > 0\n");
    return 2;
  }
  heap = calloc(max_held, sizeof *heap);
  if (heap == NULL) return 1;
  srandom((unsigned)now_ns() ^ (unsigned)getpid());
  signal(SIGPIPE, SIG_IGN);

  struct nfq_handle *h = nfq_open();
  if (h == NULL) {
    perror("nfq-delay: nfq_open");
    return 1;
  }
  struct nfq_q_handle *qh = nfq_create_queue(h, queue, &on_packet, NULL);
  if (qh == NULL) {
    perror("nfq-delay: nfq_create_queue");
    return 1;
  }
  /* Only the metadata (packet id) is needed: the verdict leaves the packet as it is. */
  if (nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0) {
    perror("nfq-delay: nfq_set_mode");
    return 1;
  }
  nfq_set_queue_maxlen(qh, (uint32_t)max_held);
  nfnl_rcvbufsiz(nfq_nfnlh(h), 8 * 1024 * 1024);
  int fd = nfq_fd(h);
  /* A burst beyond the socket buffer must not kill the loop: drop silently like a queue would. */
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);

  printf("ready\n");
  fflush(stdout);

  char buf[65536] __attribute__((aligned));
  for (;;) {
    struct timespec ts, *tsp = NULL;
    if (held_count > 0) {
      uint64_t now = now_ns();
      uint64_t wait = heap[0].due_ns > now ? heap[0].due_ns - now : 0;
      ts.tv_sec = (time_t)(wait / 1000000000ull);
      ts.tv_nsec = (long)(wait % 1000000000ull);
      tsp = &ts;
    }
    struct pollfd pfd = {fd, POLLIN, 0};
    int n = ppoll(&pfd, 1, tsp, NULL);
    if (n < 0 && errno != EINTR) {
      perror("nfq-delay: ppoll");
      return 1;
    }
    if (n > 0 && (pfd.revents & POLLIN)) {
      for (;;) {
        ssize_t rv = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (rv <= 0) break;
        nfq_handle_packet(h, buf, (int)rv);
      }
    }
    uint64_t now = now_ns();
    while (held_count > 0 && heap[0].due_ns <= now) {
      struct held due = heap_pop();
      nfq_set_verdict(qh, due.id, NF_ACCEPT, 0, NULL);
    }
  }
}
