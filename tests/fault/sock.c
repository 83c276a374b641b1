/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The socket endpoint of the tests (sock.h): everything a remote endpoint
 * asks of the engine's loop, without a network.  On the engine thread:
 *   submit      queues the request (nothing is sent from inside it);
 *   the hook    sends what is queued before the engine waits, as far as the
 *               socket takes it; a full send buffer leaves the rest for
 *               POLLOUT;
 *   ready()     sends on POLLOUT, reads answers on POLLIN and reports each
 *               one (kc_io_report only queues it: the engine finishes it
 *               after ready() returns);
 *   the timer   a deadline re-armed on every step forward: when it passes
 *               with requests outstanding, the connection is dropped and
 *               they fail with -ETIMEDOUT.
 * The events it asks for are recomputed after each of those: POLLIN while
 * answers are due, POLLOUT while a send waits for room.
 *
 * Wire format, host order: a request header (then the data of a write),
 * an answer header (then the data of a read).  The server is a thread
 * serving a local file.  Requests are tracked on the endpoint's own lists
 * through io->ep (the engine leaves it to the endpoint).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sock.h"

#define MAGIC_REQ 0x6b635251u
#define MAGIC_REP 0x6b635250u

struct wire_req {
	uint32_t magic, op;
	uint64_t handle, off;
	uint32_t len, pad;
};

struct wire_rep {
	uint32_t magic;
	int32_t res;
	uint64_t handle;
};

struct sock_dev {
	int fd;                       /* ours, non-blocking */
	int sfd;                      /* the server's end */
	int file;                     /* what the server serves */
	dev_t dev;
	ino_t ino;
	struct kc_sock_config cfg;
	pthread_t server;

	/* Engine thread (the attached client's). */
	struct kcopyd_client *kc;
	struct kc_watch w;
	struct kc_hook hook;
	struct kc_timer deadline;
	int dead;                     /* 0, or what every request fails with now */
	bool in_ready;
	bool blocked;                 /* the last send met a full buffer */
	struct kc_io *outq, **outq_tail;   /* to send; the first may be partly sent */
	size_t out_done;                   /* bytes of the first's message sent */
	struct kc_io *inflight;            /* sent, waiting for the answer */
	uint64_t seq;                      /* requests sent whole */
	struct wire_rep rep;               /* the answer being read */
	size_t rep_got;
	struct kc_io *rcv;                 /* its request, while its data is read */
	uint32_t rcv_got;

	struct kc_sock_stats st;      /* read by the tests: atomics */
};

/* The endpoint's links and the order sent, in io->ep. */
#define NEXT(io) ((io)->ep.list.next)
#define SEQ(io) ((io)->ep.list.seq)

static void stat_add(uint64_t *c)
{
	__atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
}

static uint32_t want_len(const struct kc_io *io)
{
	return io->len - io->done;
}

static void set_events(struct sock_dev *s)
{
	unsigned int ev = 0;

	if (!s->dead) {
		if (s->inflight || s->rcv || s->rep_got)
			ev |= POLLIN;
		if (s->outq && s->blocked)
			ev |= POLLOUT;
	}
	if (ev != s->w.events) {
		stat_add(&s->st.direction_changes);
		kc_watch_set(s->kc, &s->w, ev);
	}
}

/* Something moved: the deadline is the timeout from now, while anything
 * is outstanding. */
static void rearm(struct sock_dev *s)
{
	if (!s->cfg.timeout_ms)
		return;
	if (s->outq || s->inflight)
		kc_client_timer_arm(s->kc, &s->deadline,
				    kc_now_ns() + (uint64_t)s->cfg.timeout_ms * 1000000);
	else
		kc_client_timer_cancel(s->kc, &s->deadline);
}

static void fail_list(struct kcopyd_client *kc, struct kc_io *list, int err)
{
	while (list) {
		struct kc_io *io = list;

		list = NEXT(io);
		kc_io_report(kc, io, err);
	}
}

/* The connection is gone: every request outstanding fails with err, and so
 * will every later one. */
static void drop(struct sock_dev *s, int err)
{
	if (s->dead)
		return;
	s->dead = err;
	shutdown(s->fd, SHUT_RDWR);
	if (s->rcv)
		kc_io_report(s->kc, s->rcv, err);
	s->rcv = NULL;
	fail_list(s->kc, s->outq, err);
	fail_list(s->kc, s->inflight, err);
	s->outq = s->inflight = NULL;
	s->outq_tail = &s->outq;
	kc_client_timer_cancel(s->kc, &s->deadline);
}

static void deadline_fire(struct kcopyd_client *kc, struct kc_timer *t)
{
	struct sock_dev *s = (struct sock_dev *)((char *)t - offsetof(struct sock_dev, deadline));

	(void)kc;
	stat_add(&s->st.timeouts);
	drop(s, -ETIMEDOUT);
	set_events(s);
}

/* Send from the queue until it is empty or the socket is full.  True if
 * anything went. */
static bool pump_out(struct sock_dev *s)
{
	bool moved = false;

	while (s->outq && !s->dead) {
		struct kc_io *io = s->outq;
		struct wire_req h = {
			.magic = MAGIC_REQ, .op = io->op, .handle = (uintptr_t)io,
			.off = io->off + io->done, .len = want_len(io),
		};
		size_t data = io->op == KC_OP_WRITE ? h.len : 0;
		struct iovec iov[2];
		int n = 0;
		ssize_t r;

		if (s->out_done < sizeof(h))
			iov[n++] = (struct iovec){ (char *)&h + s->out_done, sizeof(h) - s->out_done };
		if (data) {
			size_t at = s->out_done > sizeof(h) ? s->out_done - sizeof(h) : 0;

			iov[n++] = (struct iovec){ io->buf + io->done + at, data - at };
		}
		r = sendmsg(s->fd, &(struct msghdr){ .msg_iov = iov, .msg_iovlen = (size_t)n },
			    MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (!s->blocked)
					stat_add(&s->st.pollout_waits);
				s->blocked = true;
				break;
			}
			if (errno == EINTR)
				continue;
			drop(s, -errno);
			break;
		}
		moved = true;
		s->blocked = false;
		s->out_done += (size_t)r;
		if (s->out_done < sizeof(h) + data)
			continue;
		s->out_done = 0;
		s->outq = NEXT(io);
		if (!s->outq)
			s->outq_tail = &s->outq;
		SEQ(io) = s->seq++;
		NEXT(io) = s->inflight;
		s->inflight = io;
		stat_add(&s->st.requests);
	}
	return moved;
}

/* The request an answer is for, taken off the in-flight list; NULL if the
 * server names none of ours. */
static struct kc_io *take_inflight(struct sock_dev *s, uint64_t handle)
{
	struct kc_io **p, *io;
	bool older = false;

	for (p = &s->inflight; *p && (uintptr_t)*p != handle; p = &NEXT(*p))
		;
	io = *p;
	if (!io)
		return NULL;
	*p = NEXT(io);
	for (struct kc_io *o = s->inflight; o; o = NEXT(o))
		older |= SEQ(o) < SEQ(io);
	if (older)
		stat_add(&s->st.out_of_order);
	return io;
}

/* Read answers as far as they have come.  True if anything came. */
static bool pump_in(struct sock_dev *s)
{
	bool moved = false;

	while (!s->dead) {
		ssize_t r;

		if (s->rcv) {           /* a read's data */
			struct kc_io *io = s->rcv;

			r = recv(s->fd, io->buf + io->done + s->rcv_got,
				 (size_t)s->rep.res - s->rcv_got, MSG_DONTWAIT);
			if (r > 0) {
				moved = true;
				s->rcv_got += (uint32_t)r;
				if (s->rcv_got == (uint32_t)s->rep.res) {
					s->rcv = NULL;
					kc_io_report(s->kc, io, s->rep.res);
				}
				continue;
			}
		} else {
			r = recv(s->fd, (char *)&s->rep + s->rep_got, sizeof(s->rep) - s->rep_got,
				 MSG_DONTWAIT);
			if (r > 0) {
				struct kc_io *io;

				moved = true;
				s->rep_got += (size_t)r;
				if (s->rep_got < sizeof(s->rep))
					continue;
				s->rep_got = 0;
				io = take_inflight(s, s->rep.handle);
				if (s->rep.magic != MAGIC_REP || !io ||
				    (s->rep.res > 0 && (uint32_t)s->rep.res > want_len(io))) {
					drop(s, -EPROTO);
					break;
				}
				if (io->op == KC_OP_READ && s->rep.res > 0) {
					s->rcv = io;
					s->rcv_got = 0;
				} else {
					kc_io_report(s->kc, io, s->rep.res);
				}
				continue;
			}
		}
		if (r == 0) {
			drop(s, -ECONNRESET);
		} else if (errno == EINTR) {
			continue;
		} else if (errno != EAGAIN && errno != EWOULDBLOCK) {
			drop(s, -errno);
		}
		break;
	}
	return moved;
}

static void sock_ready(struct kcopyd_client *kc, struct kc_watch *w, unsigned int revents)
{
	struct sock_dev *s = (struct sock_dev *)((char *)w - offsetof(struct sock_dev, w));
	bool moved = false;

	(void)kc;
	s->in_ready = true;
	if (revents & POLLOUT)
		moved = pump_out(s);
	if (revents & (POLLIN | POLLHUP | POLLERR))
		moved |= pump_in(s);
	if (moved)
		rearm(s);
	s->in_ready = false;
	set_events(s);
}

static void sock_hook(struct kcopyd_client *kc, struct kc_hook *h)
{
	struct sock_dev *s = (struct sock_dev *)((char *)h - offsetof(struct sock_dev, hook));

	(void)kc;
	if (s->outq && !s->blocked && pump_out(s)) {
		stat_add(&s->st.hook_sends);
		rearm(s);
	}
	set_events(s);
}

static void sock_submit(struct kcopyd_client *kc, struct kc_io *io)
{
	struct sock_dev *s = io->bd->priv;
	bool first;

	if (s->in_ready)
		stat_add(&s->st.reentered);
	if (s->dead) {
		kc_io_report(kc, io, s->dead);
		return;
	}
	first = !s->outq && !s->inflight;
	NEXT(io) = NULL;
	*s->outq_tail = io;
	s->outq_tail = &NEXT(io);
	if (first)
		rearm(s);
}

static int sock_attach(struct kcopyd_client *kc, struct block_device *bd)
{
	struct sock_dev *s = bd->priv;
	int err = kc_client_timers_reserve(kc, 1);

	if (err)
		return err;
	stat_add(&s->st.attaches);
	s->kc = kc;
	s->w = (struct kc_watch){ .fd = s->fd, .ready = sock_ready };
	s->hook = (struct kc_hook){ .fn = sock_hook };
	s->deadline = (struct kc_timer){ .fn = deadline_fire };
	kc_watch_add(kc, &s->w);
	kc_hook_add(kc, &s->hook);
	return 0;
}

static void sock_detach(struct kcopyd_client *kc, struct block_device *bd)
{
	struct sock_dev *s = bd->priv;

	kc_watch_del(kc, &s->w);
	kc_hook_del(kc, &s->hook);
	kc_client_timer_cancel(kc, &s->deadline);
	kc_client_timers_release(kc, 1);
	s->kc = NULL;
}

/* ---- the server -------------------------------------------------------- */

struct answer {
	struct wire_rep rep;
	char *data;
	size_t len;
};

static bool read_all(int fd, void *buf, size_t len)
{
	while (len) {
		ssize_t r = read(fd, buf, len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		buf = (char *)buf + r;
		len -= (size_t)r;
	}
	return true;
}

static bool write_all(int fd, const void *buf, size_t len)
{
	while (len) {
		ssize_t r = send(fd, buf, len, MSG_NOSIGNAL);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		buf = (const char *)buf + r;
		len -= (size_t)r;
	}
	return true;
}

static void serve(struct sock_dev *s, const struct wire_req *q, char *data, struct answer *a)
{
	ssize_t r = 0;

	a->rep = (struct wire_rep){ .magic = MAGIC_REP, .handle = q->handle };
	a->data = NULL;
	a->len = 0;
	switch (q->op) {
	case KC_OP_READ:
		a->data = malloc(q->len ? q->len : 1);
		r = a->data ? pread(s->file, a->data, q->len, (off_t)q->off) : -1;
		if (r > 0)
			a->len = (size_t)r;
		break;
	case KC_OP_WRITE:
		r = pwrite(s->file, data, q->len, (off_t)q->off);
		break;
	case KC_OP_ZERO:
		memset(data, 0, q->len);
		r = pwrite(s->file, data, q->len, (off_t)q->off);
		if (r == (ssize_t)q->len)
			r = 0;
		break;
	default:
		r = -1;
		errno = EINVAL;
	}
	a->rep.res = r < 0 ? -errno : (int32_t)r;
}

static bool send_answer(struct sock_dev *s, struct answer *a)
{
	bool ok = write_all(s->sfd, &a->rep, sizeof(a->rep)) &&
		  (!a->len || write_all(s->sfd, a->data, a->len));

	free(a->data);
	a->data = NULL;
	return ok;
}

static void *server_main(void *arg)
{
	struct sock_dev *s = arg;
	unsigned int batch_max = s->cfg.reorder ? s->cfg.reorder : 1, batch = 0;
	struct answer *held = calloc(batch_max, sizeof(*held));
	uint64_t served = 0;
	bool ok = held != NULL;

	while (ok) {
		struct wire_req q;
		char *data;

		/* Answers held for reordering go when no request follows soon. */
		if (batch && poll(&(struct pollfd){ .fd = s->sfd, .events = POLLIN }, 1, 1) == 0) {
			while (batch && ok)
				ok = send_answer(s, &held[--batch]);
			continue;
		}
		if (!read_all(s->sfd, &q, sizeof(q)) || q.magic != MAGIC_REQ)
			break;
		data = malloc(q.len ? q.len : 1);
		if (!data || ((q.op == KC_OP_WRITE) && !read_all(s->sfd, data, q.len))) {
			free(data);
			break;
		}
		served++;
		if (s->cfg.hang_after && served > s->cfg.hang_after) {
			free(data);             /* read, never answered */
			continue;
		}
		if (s->cfg.delay_us)
			usleep(s->cfg.delay_us);
		serve(s, &q, data, &held[batch++]);
		free(data);
		if (batch == batch_max)
			while (batch && ok)
				ok = send_answer(s, &held[--batch]);
	}
	while (batch)
		free(held[--batch].data);
	free(held);
	return NULL;
}

/* ---- opening and closing ---------------------------------------------- */

static unsigned int sock_caps(const struct block_device *bd)
{
	(void)bd;
	return 0;
}

static bool sock_same_storage(const struct block_device *a, const struct block_device *b)
{
	const struct sock_dev *x = a->priv, *y = b->priv;

	return x->dev == y->dev && x->ino == y->ino;
}

static int sock_flush(struct block_device *bd)
{
	struct sock_dev *s = bd->priv;

	return fsync(s->file) ? -errno : 0;
}

static void sock_free(struct sock_dev *s, bool joined)
{
	if (!joined && s->fd >= 0) {
		shutdown(s->fd, SHUT_RDWR);
		pthread_join(s->server, NULL);
	}
	if (s->fd >= 0)
		close(s->fd);
	if (s->sfd >= 0)
		close(s->sfd);
	if (s->file >= 0)
		close(s->file);
	free(s);
}

static void sock_close(struct block_device *bd)
{
	sock_free(bd->priv, false);
}

static const struct kc_endpoint_ops sock_ops = {
	.name = "sock",
	.caps = sock_caps,
	.same_storage = sock_same_storage,
	.submit = sock_submit,
	.flush = sock_flush,
	.close = sock_close,
	.attach = sock_attach,
	.detach = sock_detach,
};

int kc_sock_open(const char *path, int acc, const struct kc_sock_config *cfg,
		 struct block_device **result)
{
	struct block_device *bd = calloc(1, sizeof(*bd));
	struct sock_dev *s = calloc(1, sizeof(*s));
	int sv[2], err;
	struct stat st;

	if (!bd || !s) {
		free(bd);
		free(s);
		return -ENOMEM;
	}
	s->fd = s->sfd = -1;
	s->cfg = *cfg;
	s->outq_tail = &s->outq;
	s->file = open(path, acc | O_CLOEXEC);
	if (s->file < 0 || fstat(s->file, &st) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		goto fail;
	s->fd = sv[0];
	s->sfd = sv[1];
	if (fcntl(s->fd, F_SETFL, O_NONBLOCK) ||
	    (cfg->sndbuf && setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &(int){ (int)cfg->sndbuf },
				       sizeof(int))))
		goto fail;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	err = pthread_create(&s->server, NULL, server_main, s);
	if (err) {
		errno = err;
		goto fail;
	}
	bd->ops = &sock_ops;
	bd->priv = s;
	bd->geom = (struct kc_geom){
		.size = (uint64_t)st.st_size,
		.sectors = ((uint64_t)st.st_size + KCOPYD_SECTOR_SIZE - 1) >> KCOPYD_SECTOR_SHIFT,
		.lbs = KCOPYD_SECTOR_SIZE, .pbs = KCOPYD_SECTOR_SIZE,
		.writable = (acc & O_ACCMODE) == O_RDWR, .clip_at_size = true,
	};
	*result = bd;
	return 0;
fail:
	err = -errno;
	sock_free(s, true);
	free(bd);
	return err;
}

void kc_sock_stats(struct block_device *bd, struct kc_sock_stats *out)
{
	struct sock_dev *s = bd->priv;
	const uint64_t *in = (const uint64_t *)&s->st;
	uint64_t *o = (uint64_t *)out;

	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		o[i] = __atomic_load_n(&in[i], __ATOMIC_RELAXED);
}
