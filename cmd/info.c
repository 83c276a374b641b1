/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kcopyd info DEVICE...: what the library sees of each device (size, block
 * sizes, whether O_DIRECT works, the zeroing fast path), what the kernel
 * says of a block device's discard and write-zeroes support, and which I/O
 * engine a client gets here.  Everything is opened read-only.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "kcopyd-cmd.h"

struct info {
	const char *path;
	const char *error;           /* NULL when the rest is valid */
	char errbuf[256];
	bool blockdev, direct, can_zero;
	uint64_t size;
	unsigned int lbs, pbs;
	/* Block devices, from sysfs; -1 when unknown. */
	int64_t discard_max, write_zeroes_max, rotational, read_only;
	int in_use;                  /* O_EXCL open refused: mounted or claimed */
	const char *fs;              /* files: the file system's name */
};

static const struct { unsigned long magic; const char *name; } fs_names[] = {
	{ EXT4_SUPER_MAGIC, "ext2/3/4" }, { XFS_SUPER_MAGIC, "xfs" },
	{ BTRFS_SUPER_MAGIC, "btrfs" }, { TMPFS_MAGIC, "tmpfs" },
	{ 0x65735546, "fuse" }, { NFS_SUPER_MAGIC, "nfs" }, { 0x794c7630, "overlayfs" },
	{ 0x2fc12fc1, "zfs" }, { 0xf2f52010, "f2fs" }, { 0x4d44, "vfat" },
	{ 0x5346544e, "ntfs" }, { 0x01021997, "9p" }, { 0x6a656a63, "virtiofs" },
};

static const char *fs_name(const char *path)
{
	struct statfs sf;

	if (statfs(path, &sf))
		return NULL;
	for (size_t i = 0; i < sizeof(fs_names) / sizeof(fs_names[0]); i++)
		if ((unsigned long)sf.f_type == fs_names[i].magic)
			return fs_names[i].name;
	return "other";
}

static int64_t sysfs_i64(const char *dir, const char *name)
{
	char buf[64];

	if (read_sysfs(dir, name, buf, sizeof(buf)) < 0)
		return -1;
	return strtoll(buf, NULL, 10);
}

/* The queue attributes of a partition live in its disk's directory. */
static void probe_sysfs(struct info *in, dev_t rdev)
{
	/* Static: the command is single-threaded here, and two PATH_MAX
	 * buffers are 8 KiB of stack. */
	static char dir[PATH_MAX], queue[PATH_MAX + 16];
	char link[64];

	snprintf(link, sizeof(link), "/sys/dev/block/%u:%u", major(rdev), minor(rdev));
	if (!realpath(link, dir))
		return;
	in->read_only = sysfs_i64(dir, "ro");
	snprintf(queue, sizeof(queue), "%s/%squeue", dir,
		 sysfs_i64(dir, "partition") >= 0 ? "../" : "");
	in->discard_max = sysfs_i64(queue, "discard_max_bytes");
	in->write_zeroes_max = sysfs_i64(queue, "write_zeroes_max_bytes");
	in->rotational = sysfs_i64(queue, "rotational");
}

static void probe_block(struct info *in, const struct stat *st)
{
	int fd = open(in->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	in->in_use = fd >= 0 && device_claimed(fd);
	if (fd >= 0)
		close(fd);
	probe_sysfs(in, st->st_rdev);
}

static void probe(struct info *in)
{
	struct block_device *bd;
	struct stat st;
	int ret;

	in->discard_max = in->write_zeroes_max = in->rotational = in->read_only = -1;
	if (stat(in->path, &st)) {
		snprintf(in->errbuf, sizeof(in->errbuf), "%s", strerror(errno));
		in->error = in->errbuf;
		return;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		snprintf(in->errbuf, sizeof(in->errbuf), "is %s; not a regular file or block device",
			 unusable_type(st.st_mode));
		in->error = in->errbuf;
		return;
	}
	ret = kcopyd_bdev_open_ex(in->path, O_RDONLY, 0, &bd);
	if (ret) {
		snprintf(in->errbuf, sizeof(in->errbuf), "cannot open: %s", strerror(-ret));
		in->error = in->errbuf;
		return;
	}
	in->blockdev = kcopyd_bdev_is_blockdev(bd);
	in->direct = kcopyd_bdev_is_direct(bd);
	in->can_zero = kcopyd_bdev_can_zero(bd);
	in->size = kcopyd_bdev_size(bd);
	in->lbs = kcopyd_bdev_logical_block_size(bd);
	in->pbs = kcopyd_bdev_physical_block_size(bd);
	kcopyd_bdev_close(bd);
	if (in->blockdev)
		probe_block(in, &st);
	else
		in->fs = fs_name(in->path);
}

static const char *yes_no(int64_t v)
{
	return v < 0 ? "unknown" : v ? "yes" : "no";
}

static const char *zeroes_text(int64_t max)
{
	return max > 0 ? "yes (offloaded)" : max == 0 ? "no (zeroed with writes)" : "unknown";
}

static void print_block(const struct info *in)
{
	tprintf("  discard              %s\n",
	       yes_no(in->discard_max < 0 ? -1 : in->discard_max > 0));
	tprintf("  write zeroes         %s\n", zeroes_text(in->write_zeroes_max));
	tprintf("  rotational           %s\n", yes_no(in->rotational));
	tprintf("  read-only            %s\n", yes_no(in->read_only));
	tprintf("  in use               %s\n",
	       in->in_use ? "yes (mounted or held exclusively)" : "no");
}

static void print_file(const struct info *in)
{
	tprintf("  file system          %s\n", in->fs ? in->fs : "unknown");
	tprintf("  zeroing              %s\n",
	       in->can_zero ? "fallocate: punch a hole, else zero a range, each tried once, "
			      "else writes" : "writes");
}

static void print_text(const struct info *in)
{
	char b[32];

	tprintf("%s: %s\n", in->path, in->blockdev ? "block device" : "regular file");
	tprintf("  size                 %llu bytes (%s)\n", (unsigned long long)in->size,
	       human_size(in->size, b, sizeof(b)));
	tprintf("  logical block size   %u\n", in->lbs);
	tprintf("  physical block size  %u\n", in->pbs);
	tprintf("  direct I/O           %s\n", in->direct ? "yes" : "no (buffered)");
	if (in->blockdev)
		print_block(in);
	else
		print_file(in);
}

static void json_sysfs(struct json *j, const char *key, int64_t v)
{
	if (v < 0)
		json_str(j, key, NULL);
	else
		json_bool(j, key, v > 0);
}

static void print_json_device(struct json *j, const struct info *in)
{
	json_object(j, NULL);
	json_str(j, "path", in->path);
	json_str(j, "error", in->error);
	if (!in->error) {
		json_str(j, "type", in->blockdev ? "block device" : "regular file");
		json_u64(j, "size", in->size);
		json_u64(j, "logical_block_size", in->lbs);
		json_u64(j, "physical_block_size", in->pbs);
		json_bool(j, "direct_io", in->direct);
		json_bool(j, "zeroing_fast_path", in->can_zero);
		json_sysfs(j, "discard", in->blockdev ? in->discard_max : -1);
		json_sysfs(j, "write_zeroes", in->blockdev ? in->write_zeroes_max : -1);
		json_sysfs(j, "rotational", in->blockdev ? in->rotational : -1);
		json_sysfs(j, "read_only", in->blockdev ? in->read_only : -1);
		json_sysfs(j, "in_use", in->blockdev ? in->in_use : -1);
		json_str(j, "filesystem", in->fs);
	}
	json_close(j, '}');
}

/* A one-page client is enough to learn which engine a client gets. */
static void engine_name(char *buf, size_t size)
{
	struct kcopyd_client *kc;
	int ret = kcopyd_client_create(1, &kc);

	if (ret) {
		const char *e = getenv("KCOPYD_ENGINE");

		if (ret == -EINVAL && e && *e && strcmp(e, "threads") && strcmp(e, "io_uring"))
			snprintf(buf, size, "unavailable (KCOPYD_ENGINE=%.40s is not a copy engine: "
				 "io_uring, threads, or unset)", e);
		else
			snprintf(buf, size, "unavailable (%s)", strerror(-ret));
		return;
	}
	snprintf(buf, size, "%s", kcopyd_client_engine(kc));
	kcopyd_client_destroy(kc);
}

int cmd_info(struct options *o)
{
	struct info *in = calloc((size_t)o->npaths, sizeof(*in));
	char engine[160];
	struct json j;
	int code = EXIT_OK;

	if (!in) {
		errmsg("out of memory");
		return EXIT_SETUP;
	}
	engine_name(engine, sizeof(engine));
	for (int i = 0; i < o->npaths; i++) {
		in[i].path = o->paths[i];
		probe(&in[i]);
		if (in[i].error) {
			errmsg("%s: %s", in[i].path, in[i].error);
			code = EXIT_SETUP;
		}
	}
	if (o->json) {
		json_begin(&j, stdout);
		json_str(&j, "command", "info");
		json_str(&j, "engine", engine);
		json_str(&j, "library_version", kcopyd_version());
		json_array(&j, "devices");
		for (int i = 0; i < o->npaths; i++)
			print_json_device(&j, &in[i]);
		json_close(&j, ']');
		json_exit_code(&j, code);
		json_end(&j);
	} else {
		tprintf("engine: %s (libkcopyd %s)\n", engine, kcopyd_version());
		for (int i = 0; i < o->npaths; i++)
			if (!in[i].error)
				print_text(&in[i]);
	}
	free(in);
	return code;
}
