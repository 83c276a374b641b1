/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The page pool: num_pages 4 KiB pages reserved when the client is created,
 * handed out to sub-jobs as contiguous power-of-two blocks (a buddy
 * allocator), so that a 4 KiB job takes one page and a 512 KiB sub-job takes
 * 128, and data buffers never use more memory than was reserved.
 *
 * Only the engine thread calls these; nothing here allocates.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "internal.h"

#define NIL UINT32_MAX

int kc_pool_init(struct kc_pool *p, unsigned int num_pages)
{
	size_t bytes = (size_t)num_pages << KC_PAGE_SHIFT;

	/* MAP_POPULATE: the memory is really reserved up front, as the
	 * kernel's kcopyd reserves its pages, not faulted in mid-copy. */
	p->base = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p->base == MAP_FAILED) {
		p->base = NULL;
		return -ENOMEM;
	}
	p->num_pages = num_pages;
	p->links = calloc(num_pages, sizeof(*p->links));
	p->state = calloc(num_pages, sizeof(*p->state));
	p->free_head = calloc(32, sizeof(*p->free_head));
	if (!p->links || !p->state || !p->free_head) {
		kc_pool_fini(p);
		return -ENOMEM;
	}
	return 0;
}

void kc_pool_fini(struct kc_pool *p)
{
	if (p->base)
		munmap(p->base, (size_t)p->num_pages << KC_PAGE_SHIFT);
	free(p->links);
	free(p->state);
	free(p->free_head);
	p->base = NULL;
	p->links = p->free_head = NULL;
	p->state = NULL;
}

static void push(struct kc_pool *p, uint32_t page, unsigned int order)
{
	p->links[page] = p->free_head[order];
	p->free_head[order] = page;
	p->state[page] = (uint8_t)(order + 1);
}

/* Unlink a free block from its order's list: the lists are short (a few
 * blocks per order), which is why a singly linked list is enough. */
static void unlink_block(struct kc_pool *p, uint32_t page, unsigned int order)
{
	uint32_t *pp = &p->free_head[order];

	while (*pp != page)
		pp = &p->links[*pp];
	*pp = p->links[page];
	p->state[page] = 0;
}

/* Carve the whole pool into the largest aligned blocks up to max_order. */
void kc_pool_reset(struct kc_pool *p, unsigned int max_order)
{
	uint32_t page = 0;

	p->max_order = max_order;
	for (unsigned int o = 0; o < 32; o++)
		p->free_head[o] = NIL;
	for (uint32_t i = 0; i < p->num_pages; i++)
		p->state[i] = 0;
	while (page < p->num_pages) {
		unsigned int o = max_order;

		while (o && ((page & ((1u << o) - 1)) || page + (1u << o) > p->num_pages))
			o--;
		push(p, page, o);
		page += 1u << o;
	}
}

char *kc_pool_alloc(struct kc_pool *p, unsigned int order)
{
	unsigned int o = order;
	uint32_t page;

	while (o <= p->max_order && p->free_head[o] == NIL)
		o++;
	if (o > p->max_order)
		return NULL;
	page = p->free_head[o];
	unlink_block(p, page, o);
	while (o > order) {     /* split, keeping the upper halves free */
		o--;
		push(p, page + (1u << o), o);
	}
	return p->base + ((size_t)page << KC_PAGE_SHIFT);
}

void kc_pool_free(struct kc_pool *p, char *buf, unsigned int order)
{
	uint32_t page = (uint32_t)((size_t)(buf - p->base) >> KC_PAGE_SHIFT);

	while (order < p->max_order) {
		uint32_t buddy = page ^ (1u << order);

		if (buddy >= p->num_pages || p->state[buddy] != order + 1)
			break;
		unlink_block(p, buddy, order);
		page &= ~(1u << order);
		order++;
	}
	push(p, page, order);
}
