// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmcsinfo probe core: find where a CPU stores every bit of every VMCS field.
 *
 * Intel does not document the VMCS region's layout (SDM Vol. 3C 25.2 "Format
 * of the VMCS Region": "implementation-specific").  We learn it from the CPU
 * itself, on one VMCS region we own, in four steps:
 *
 *  1. Enumerate.  VMREAD every FULL encoding of the 15-bit encoding space
 *     (Avi Kivity's suggestion in 2012: no name list).  Names only decorate
 *     the output.
 *  2. Read path.  VMCLEAR, fill the region with a pattern, VMPTRLD, VMREAD.
 *     All-zeros and all-ones fills tell which field bits come from memory;
 *     then, for every bit k of a region bit position, a fill where region bit
 *     q holds bit k of q (and its complement) tells each field bit's position.
 *     This finds read-only fields without VMWRITE, and transformed storage
 *     (rotated or packed access rights) bit by bit.
 *  3. Write path, where VMWRITE is allowed: VMWRITE a random marker and its
 *     complement, VMCLEAR after each, scan the region: the bits that changed
 *     must be exactly where the read path put the field, holding the marker.
 *  4. Self-check: random memory, VMPTRLD, VMWRITE random values to every
 *     writable field, VMCLEAR; decoding the region with the found layout must
 *     give every value back, and VMREAD after VMPTRLD must agree with it.
 *
 * Any disagreement fails the probe with a reason naming the field: a layout
 * that failed its own check is never exported.
 *
 * The region is only touched in memory while it is not current (after
 * VMCLEAR), as SDM 25.11.1 asks.  CPUs that VMREAD absent encodings as 0
 * and VMCLEARs that write implementation data into the region are handled.
 */
#include <linux/bitmap.h>
#include <linux/bits.h>
#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/stdarg.h>
#include <linux/string.h>

#include "vmcsinfo_core.h"
#include "vmcsinfo_names.h"

#define VMX_MISC_VMWRITE_ANY	BIT_ULL(29)
#define ENC_TYPE(enc)		(((enc) >> 10) & 3)
#define ENC_TYPE_READ_ONLY	1
#define ENC_WIDTH_64		1
#define ENC_WIDTH(enc)		(((enc) >> 13) & 3)
/* Rounds of VMCLEAR that must leave a suspect bit alone before it counts. */
#define VOLATILE_ROUNDS		32
#define SELF_CHECK_ROUNDS	3

enum fill_kind { FILL_ZERO, FILL_ONES, FILL_ADDR, FILL_RANDOM };

/* The workspace that vmcsinfo_probe_init() carves up (the module vmallocs it). */
struct vmcsinfo_ws {
	u16 cand[VMCSINFO_MAX_CANDIDATES];
	u64 vals[VMCSINFO_MAX_CANDIDATES];
	u8 snap_a[VMCSINFO_MAX_REGION];
	u8 snap_b[VMCSINFO_MAX_REGION];
	DECLARE_BITMAP(claimed, VMCSINFO_REGION_BITS);
	DECLARE_BITMAP(volatile_bits, VMCSINFO_REGION_BITS);
	DECLARE_BITMAP(suspect, VMCSINFO_REGION_BITS);
	struct vmcsinfo_field fields[VMCSINFO_MAX_FIELDS];
};

static int mem_bit(const u8 *mem, unsigned int bit)
{
	return (mem[bit / 8] >> (bit % 8)) & 1;
}

unsigned int vmcsinfo_enc_width(u32 enc)
{
	switch (ENC_WIDTH(enc)) {
	case 0:
		return 16;
	case 2:
		return 32;
	default:
		return 64;	/* 64-bit and natural width (Intel 64) */
	}
}

static u64 width_mask(unsigned int width)
{
	return width >= 64 ? ~0ULL : (1ULL << width) - 1;
}

const char *vmcsinfo_field_name(u32 enc)
{
	size_t lo = 0, hi = ARRAY_SIZE(vmcsinfo_names);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (vmcsinfo_names[mid].enc == enc)
			return vmcsinfo_names[mid].name;
		if (vmcsinfo_names[mid].enc < enc)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Name for messages: Linux's name or ENC_xxxx, in a caller's buffer. */
static const char *field_label(u32 enc, char *buf, size_t len)
{
	const char *name = vmcsinfo_field_name(enc);

	if (name)
		return name;
	snprintf(buf, len, "ENC_%04x", enc);
	return buf;
}

size_t vmcsinfo_workspace_size(void)
{
	return sizeof(struct vmcsinfo_ws);
}

void vmcsinfo_probe_init(struct vmcsinfo_probe *p, void *ws, size_t ws_size)
{
	struct vmcsinfo_ws *w = ws;

	memset(ws, 0, ws_size);
	p->cand = w->cand;
	p->vals = w->vals;
	p->snap_a = w->snap_a;
	p->snap_b = w->snap_b;
	p->claimed = w->claimed;
	p->volatile_bits = w->volatile_bits;
	p->suspect = w->suspect;
	p->fields = w->fields;
}

static __printf(2, 3) int fail(struct vmcsinfo_probe *p, const char *fmt, ...)
{
	va_list ap;

	if (p->err[0])
		return -EIO;	/* keep the first reason */
	va_start(ap, fmt);
	vsnprintf(p->err, sizeof(p->err), fmt, ap);
	va_end(ap);
	return -EIO;
}

static int insn_fail(struct vmcsinfo_probe *p, const char *insn, u32 enc,
		     int rc)
{
	char lbl[16];
	const char *what = "";

	if (enc != VMCSINFO_ENC_SPACE)
		what = field_label(enc, lbl, sizeof(lbl));
	if (rc == VMCSINFO_FAIL_INVALID)
		return fail(p, "%s %s failed: VMfailInvalid", insn, what);
	if (rc == VMCSINFO_FAIL_FAULT)
		return fail(p, "%s %s faulted", insn, what);
	return fail(p, "%s %s failed: VM-instruction error %d", insn, what, rc);
}

u64 vmcsinfo_rand(u64 *state)
{
	u64 x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static u64 rnd(struct vmcsinfo_probe *p)
{
	return vmcsinfo_rand(&p->rng);
}

static void put_header(struct vmcsinfo_probe *p)
{
	u32 rev = p->revision_id;	/* bit 31, shadow-VMCS indicator, clear */

	memcpy(p->vmcs, &rev, sizeof(rev));
}

static void fill(struct vmcsinfo_probe *p, enum fill_kind kind,
		 unsigned int k, int invert)
{
	u8 inv = invert ? 0xff : 0;
	unsigned int i;

	for (i = 0; i < p->region_size; i++) {
		u8 b = 0;

		switch (kind) {
		case FILL_ZERO:
			b = 0;
			break;
		case FILL_ONES:
			b = 0xff;
			break;
		case FILL_ADDR:
			/* region bit q = i * 8 + j holds bit k of q */
			if (k == 0)
				b = 0xaa;
			else if (k == 1)
				b = 0xcc;
			else if (k == 2)
				b = 0xf0;
			else
				b = ((i >> (k - 3)) & 1) ? 0xff : 0;
			break;
		case FILL_RANDOM:
			b = (u8)(rnd(p) >> 56);
			break;
		}
		p->vmcs[i] = b ^ inv;
	}
	put_header(p);
}

/* VMCLEAR (region inactive, safe to write), fill, VMPTRLD. */
static int load_pattern(struct vmcsinfo_probe *p, enum fill_kind kind,
			unsigned int k, int invert)
{
	int rc = p->ops->vmclear(p->ctx);

	if (rc)
		return insn_fail(p, "VMCLEAR", VMCSINFO_ENC_SPACE, rc);
	fill(p, kind, k, invert);
	rc = p->ops->vmptrld(p->ctx);
	if (rc)
		return insn_fail(p, "VMPTRLD", VMCSINFO_ENC_SPACE, rc);
	return 0;
}

/* VMPTRLD the region as it is in memory (after restoring the header). */
static int reload(struct vmcsinfo_probe *p)
{
	int rc;

	put_header(p);
	rc = p->ops->vmptrld(p->ctx);
	return rc ? insn_fail(p, "VMPTRLD", VMCSINFO_ENC_SPACE, rc) : 0;
}

static int clear(struct vmcsinfo_probe *p)
{
	int rc = p->ops->vmclear(p->ctx);

	return rc ? insn_fail(p, "VMCLEAR", VMCSINFO_ENC_SPACE, rc) : 0;
}

static int vread(struct vmcsinfo_probe *p, u32 enc, u64 *val)
{
	int rc = p->ops->vmread(p->ctx, enc, val);

	return rc ? insn_fail(p, "VMREAD", enc, rc) : 0;
}

static int vwrite(struct vmcsinfo_probe *p, u32 enc, u64 val)
{
	int rc = p->ops->vmwrite(p->ctx, enc, val);

	return rc ? insn_fail(p, "VMWRITE", enc, rc) : 0;
}

/* Step 1: every FULL encoding that VMREAD accepts is a candidate. */
static int enumerate(struct vmcsinfo_probe *p)
{
	u64 v;
	u32 enc;
	int rc = load_pattern(p, FILL_ZERO, 0, 0);

	if (rc)
		return rc;
	/*
	 * 0x0001 is the HIGH access of a 16-bit field: no CPU supports it. A
	 * fault (or VMfailInvalid) is not an answer: it stops the probe.
	 */
	rc = p->ops->vmread(p->ctx, 0x0001, &v);
	if (rc < 0)
		return insn_fail(p, "VMREAD", 0x0001, rc);
	p->reads_zero = rc == 0;
	p->ncand = 0;
	for (enc = 0; enc < VMCSINFO_ENC_SPACE; enc += 2) {
		rc = p->ops->vmread(p->ctx, enc, &v);
		if (rc == 0)
			p->cand[p->ncand++] = enc;
		else if (rc < 0)
			return insn_fail(p, "VMREAD", enc, rc);
	}
	if (!p->ncand)
		return fail(p, "VMREAD accepted no encoding at all");
	return 0;
}

/* Step 2a: which bits of which candidates come from the region. */
static int find_stored(struct vmcsinfo_probe *p)
{
	char lbl[16];
	unsigned int i, b;
	u64 v;
	int rc = load_pattern(p, FILL_ZERO, 0, 0);

	if (rc)
		return rc;
	for (i = 0; i < p->ncand; i++) {
		rc = vread(p, p->cand[i], &p->vals[i]);
		if (rc)
			return rc;
	}
	rc = load_pattern(p, FILL_ONES, 0, 0);
	if (rc)
		return rc;
	p->nfields = 0;
	for (i = 0; i < p->ncand; i++) {
		u32 enc = p->cand[i];
		unsigned int width = vmcsinfo_enc_width(enc);
		u64 live, wm = width_mask(width);
		struct vmcsinfo_field *f;

		rc = vread(p, enc, &v);
		if (rc)
			return rc;
		live = p->vals[i] ^ v;
		if ((p->vals[i] | v) & ~wm)
			return fail(p, "%s: VMREAD returned bits beyond its %u-bit width",
				    field_label(enc, lbl, sizeof(lbl)), width);
		if (p->vals[i] & live)
			return fail(p, "%s: stored inverted (reads 1 from zeroed memory); format 1 cannot describe it",
				    field_label(enc, lbl, sizeof(lbl)));
		/* A field whose value never follows memory is absent there. */
		if (!live && p->reads_zero)
			continue;
		if (p->nfields >= VMCSINFO_MAX_FIELDS)
			return fail(p, "more than %u fields follow memory",
				    VMCSINFO_MAX_FIELDS);
		f = &p->fields[p->nfields++];
		f->enc = enc;
		f->width = width;
		f->stored = live;
		f->fixed = v & ~live;
		f->writable = ENC_TYPE(enc) != ENC_TYPE_READ_ONLY ||
			      (p->vmx_misc & VMX_MISC_VMWRITE_ANY);
		for (b = 0; b < 64; b++)
			f->pos[b] = (live >> b) & 1 ? 0 : VMCSINFO_NO_BIT;
	}
	if (!p->nfields)
		return fail(p, "no VMCS field follows the region's memory");
	return 0;
}

static unsigned int position_bits(const struct vmcsinfo_probe *p)
{
	unsigned int k = 0;

	while ((1u << k) < p->region_size * 8)
		k++;
	return k;
}

/* Record bit k of each stored bit's position, or verify its complement. */
static int record_positions(struct vmcsinfo_probe *p,
			    struct vmcsinfo_field *f, u64 v, unsigned int k,
			    int inv)
{
	char lbl[16];
	unsigned int b;

	if ((v & ~f->stored) != f->fixed)
		return fail(p, "%s: bits %llx change with memory in a way no single VMCS bit explains",
			    field_label(f->enc, lbl, sizeof(lbl)),
			    (unsigned long long)((v & ~f->stored) ^ f->fixed));
	for (b = 0; b < f->width; b++) {
		int bit = (v >> b) & 1;

		if (!((f->stored >> b) & 1))
			continue;
		if (!inv)
			f->pos[b] |= bit << k;
		else if (bit == ((f->pos[b] >> k) & 1))
			return fail(p, "%s: bit %u does not follow a single VMCS bit",
				    field_label(f->enc, lbl, sizeof(lbl)), b);
	}
	return 0;
}

/* Step 2b: each stored bit's position, from address-bit patterns. */
static int find_positions(struct vmcsinfo_probe *p)
{
	unsigned int k, n, nk = position_bits(p);
	int inv, rc;
	u64 v;

	for (k = 0; k < nk; k++) {
		for (inv = 0; inv < 2; inv++) {
			rc = load_pattern(p, FILL_ADDR, k, inv);
			if (rc)
				return rc;
			for (n = 0; n < p->nfields; n++) {
				rc = vread(p, p->fields[n].enc, &v);
				if (!rc)
					rc = record_positions(p, &p->fields[n],
							      v, k, inv);
				if (rc)
					return rc;
			}
		}
	}
	return 0;
}

static const struct vmcsinfo_field *owner_of(const struct vmcsinfo_probe *p,
					     unsigned int q, unsigned int *bit)
{
	unsigned int n, b;

	for (n = 0; n < p->nfields; n++)
		for (b = 0; b < p->fields[n].width; b++)
			if (p->fields[n].pos[b] == q) {
				*bit = b;
				return &p->fields[n];
			}
	return NULL;
}

/* Every stored bit lies inside the region, past the header, once. */
static int claim_positions(struct vmcsinfo_probe *p)
{
	char l1[16], l2[16];
	unsigned int n, b, ob;

	for (n = 0; n < p->nfields; n++) {
		struct vmcsinfo_field *f = &p->fields[n];

		for (b = 0; b < f->width; b++) {
			unsigned int q = f->pos[b];
			const struct vmcsinfo_field *o;

			if (q == VMCSINFO_NO_BIT)
				continue;
			if (q < VMCSINFO_HEADER_BYTES * 8 || q >= p->region_size * 8)
				return fail(p, "%s: bit %u maps outside the region (bit %x)",
					    field_label(f->enc, l1, sizeof(l1)), b, q);
			if (test_bit(q, p->claimed)) {
				o = owner_of(p, q, &ob);
				return fail(p, "%s bit %u and %s bit %u are both stored at VMCS bit %x",
					    field_label(o->enc, l1, sizeof(l1)), ob,
					    field_label(f->enc, l2, sizeof(l2)), b, q);
			}
			__set_bit(q, p->claimed);
		}
	}
	return 0;
}

static int field_has_pos(const struct vmcsinfo_field *f, unsigned int q)
{
	unsigned int b;

	for (b = 0; b < f->width; b++)
		if (f->pos[b] == q)
			return 1;
	return 0;
}

/*
 * Bits that changed between two VMCLEARs but belong to no field: either
 * VMCLEAR scribbles on them (they change again with no VMWRITE at all), or
 * the write path stored the field somewhere the read path did not see.
 */
static int resolve_suspects(struct vmcsinfo_probe *p,
			    const struct vmcsinfo_field *f, unsigned int count)
{
	char lbl[16];
	unsigned int r, q;
	int rc;

	for (r = 0; r < VOLATILE_ROUNDS && count; r++) {
		rc = reload(p);
		if (rc)
			return rc;
		rc = clear(p);
		if (rc)
			return rc;
		for_each_set_bit(q, p->suspect, VMCSINFO_REGION_BITS) {
			if (mem_bit(p->vmcs, q) == mem_bit(p->snap_b, q))
				continue;
			__clear_bit(q, p->suspect);
			__set_bit(q, p->volatile_bits);
			count--;
		}
	}
	if (count)
		return fail(p, "write path: VMWRITE %s also changes VMCS bit %x, where the read path found no field",
			    field_label(f->enc, lbl, sizeof(lbl)),
			    (unsigned int)find_first_bit(p->suspect, VMCSINFO_REGION_BITS));
	return 0;
}

/* Step 3: VMWRITE markers, VMCLEAR, scan. */
static int write_path_field(struct vmcsinfo_probe *p,
			    const struct vmcsinfo_field *f)
{
	char l1[16], l2[16];
	u64 v1 = rnd(p) & f->stored, v2 = ~v1 & f->stored;
	unsigned int b, q, ob, count = 0;
	int rc;

	rc = load_pattern(p, FILL_ZERO, 0, 0);
	if (!rc)
		rc = vwrite(p, f->enc, v1);
	if (!rc)
		rc = clear(p);
	if (rc)
		return rc;
	memcpy(p->snap_a, p->vmcs, p->region_size);
	rc = reload(p);
	if (!rc)
		rc = vwrite(p, f->enc, v2);
	if (!rc)
		rc = clear(p);
	if (rc)
		return rc;
	memcpy(p->snap_b, p->vmcs, p->region_size);

	for (b = 0; b < f->width; b++) {
		if (!((f->stored >> b) & 1))
			continue;
		q = f->pos[b];
		if (mem_bit(p->snap_a, q) != (int)((v1 >> b) & 1) ||
		    mem_bit(p->snap_b, q) != (int)((v2 >> b) & 1))
			return fail(p, "write path: VMWRITE %s bit %u did not land at VMCS bit %x where the read path found it",
				    field_label(f->enc, l1, sizeof(l1)), b, q);
	}
	for (q = VMCSINFO_HEADER_BYTES * 8; q < p->region_size * 8; q++) {
		const struct vmcsinfo_field *o;

		if (p->snap_a[q / 8] == p->snap_b[q / 8]) {
			q |= 7;		/* whole byte unchanged */
			continue;
		}
		if (mem_bit(p->snap_a, q) == mem_bit(p->snap_b, q) ||
		    test_bit(q, p->volatile_bits) || field_has_pos(f, q))
			continue;
		if (test_bit(q, p->claimed)) {
			o = owner_of(p, q, &ob);
			return fail(p, "write path: VMWRITE %s also changed VMCS bit %x, which holds %s bit %u",
				    field_label(f->enc, l1, sizeof(l1)), q,
				    field_label(o->enc, l2, sizeof(l2)), ob);
		}
		__set_bit(q, p->suspect);
		count++;
	}
	return count ? resolve_suspects(p, f, count) : 0;
}

static int write_path(struct vmcsinfo_probe *p)
{
	unsigned int n;
	int rc;

	for (n = 0; n < p->nfields; n++) {
		if (!p->fields[n].writable || !p->fields[n].stored)
			continue;
		rc = write_path_field(p, &p->fields[n]);
		if (rc)
			return rc;
	}
	return 0;
}

u64 vmcsinfo_decode(const struct vmcsinfo_field *f, const u8 *vmcs)
{
	u64 v = 0;
	unsigned int b;

	for (b = 0; b < f->width; b++)
		if (f->pos[b] != VMCSINFO_NO_BIT && mem_bit(vmcs, f->pos[b]))
			v |= 1ULL << b;
	return v;
}

/* Step 4: random round trip through VMWRITE, VMCLEAR, memory, VMREAD. */
static int self_check(struct vmcsinfo_probe *p)
{
	char lbl[16];
	unsigned int n;
	u64 v, hv;
	int rc = load_pattern(p, FILL_RANDOM, 0, 0);

	if (rc)
		return rc;
	memcpy(p->snap_a, p->vmcs, p->region_size);
	for (n = 0; n < p->nfields; n++) {
		const struct vmcsinfo_field *f = &p->fields[n];

		if (!f->writable) {
			p->vals[n] = vmcsinfo_decode(f, p->snap_a);
			continue;
		}
		v = rnd(p) & width_mask(f->width);
		rc = vwrite(p, f->enc, v);
		if (rc)
			return rc;
		p->vals[n] = v & f->stored;
	}
	rc = clear(p);
	if (rc)
		return rc;
	for (n = 0; n < p->nfields; n++) {
		const struct vmcsinfo_field *f = &p->fields[n];

		v = vmcsinfo_decode(f, p->vmcs);
		if (v != p->vals[n])
			return fail(p, "self-check: %s holds %llx after VMCLEAR, the layout decodes %llx",
				    field_label(f->enc, lbl, sizeof(lbl)),
				    (unsigned long long)p->vals[n],
				    (unsigned long long)v);
	}
	rc = reload(p);
	if (rc)
		return rc;
	for (n = 0; n < p->nfields; n++) {
		const struct vmcsinfo_field *f = &p->fields[n];

		rc = vread(p, f->enc, &v);
		if (rc)
			return rc;
		if ((v & f->stored) != p->vals[n] || (v & ~f->stored) != f->fixed)
			return fail(p, "self-check: VMREAD %s gives %llx, the layout decodes %llx",
				    field_label(f->enc, lbl, sizeof(lbl)),
				    (unsigned long long)v,
				    (unsigned long long)(p->vals[n] | f->fixed));
		if (ENC_WIDTH(f->enc) != ENC_WIDTH_64)
			continue;
		rc = vread(p, f->enc | 1, &hv);
		if (rc)
			return rc;
		if (hv != v >> 32)
			return fail(p, "self-check: VMREAD %s HIGH gives %llx, expected %llx",
				    field_label(f->enc, lbl, sizeof(lbl)),
				    (unsigned long long)hv,
				    (unsigned long long)(v >> 32));
	}
	return 0;
}

static int probe_body(struct vmcsinfo_probe *p)
{
	unsigned int r;
	int rc;

	rc = enumerate(p);
	if (!rc)
		rc = find_stored(p);
	if (!rc)
		rc = find_positions(p);
	if (!rc)
		rc = claim_positions(p);
	if (!rc)
		rc = write_path(p);
	for (r = 0; !rc && r < SELF_CHECK_ROUNDS; r++)
		rc = self_check(p);
	return rc;
}

int vmcsinfo_probe_run(struct vmcsinfo_probe *p)
{
	int rc;

	p->err[0] = '\0';
	p->nfields = 0;
	p->ncand = 0;
	p->revision_id = (u32)(p->vmx_basic & 0x7fffffff);
	p->region_size = (u32)((p->vmx_basic >> 32) & 0x1fff);
	p->rng = p->seed ? p->seed : 0x9e3779b97f4a7c15ULL;
	if (p->region_size < 2 * VMCSINFO_HEADER_BYTES ||
	    p->region_size > VMCSINFO_MAX_REGION) {
		snprintf(p->err, sizeof(p->err),
			 "IA32_VMX_BASIC reports a %u-byte VMCS region (expected 8 to 4096)",
			 p->region_size);
		return -EINVAL;
	}
	memset(p->vmcs, 0, p->region_size);
	put_header(p);
	bitmap_zero(p->claimed, VMCSINFO_REGION_BITS);
	bitmap_zero(p->volatile_bits, VMCSINFO_REGION_BITS);
	bitmap_zero(p->suspect, VMCSINFO_REGION_BITS);

	rc = p->ops->vmxon(p->ctx);
	if (rc) {
		insn_fail(p, "VMXON", VMCSINFO_ENC_SPACE, rc);
		return -EIO;
	}
	rc = probe_body(p);
	/* Leave nothing of ours cached on the CPU: the region is freed next. */
	p->ops->vmclear(p->ctx);
	p->ops->vmxoff(p->ctx);
	if (rc)
		p->nfields = 0;
	return rc;
}

struct out {
	char *buf;
	size_t len;
	size_t pos;
};

static __printf(2, 3) void out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	if (o->pos < o->len)
		n = vsnprintf(o->buf + o->pos, o->len - o->pos, fmt, ap);
	else
		n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->pos += n;
}

int vmcsinfo_field_is_plain(const struct vmcsinfo_field *f)
{
	unsigned int b;

	if (f->stored != width_mask(f->width) || f->pos[0] % 8)
		return 0;
	for (b = 1; b < f->width; b++)
		if (f->pos[b] != f->pos[0] + b)
			return 0;
	return 1;
}

size_t vmcsinfo_format(const struct vmcsinfo_probe *p, char *buf, size_t len)
{
	struct out o = { .buf = buf, .len = len, .pos = 0 };
	char lbl[16];
	unsigned int n, b;

	if (len)
		buf[0] = '\0';
	out_printf(&o, "VMCSINFO_FORMAT=1\n");
	out_printf(&o, "REVISION_ID=%x\n", p->revision_id);
	out_printf(&o, "REGION_SIZE=%x\n", p->region_size);
	out_printf(&o, "VMX_BASIC=%llx\n", (unsigned long long)p->vmx_basic);
	out_printf(&o, "VMX_MISC=%llx\n", (unsigned long long)p->vmx_misc);
	out_printf(&o, "CPU_VENDOR=%s\n", p->vendor);
	out_printf(&o, "CPU_SIGNATURE=%x\n", p->cpu_signature);
	out_printf(&o, "MICROCODE=%x\n", p->microcode);
	out_printf(&o, "FIELD_COUNT=%x\n", p->nfields);
	for (n = 0; n < p->nfields; n++) {
		const struct vmcsinfo_field *f = &p->fields[n];
		const char *name = field_label(f->enc, lbl, sizeof(lbl));

		if (vmcsinfo_field_is_plain(f)) {
			out_printf(&o, "FIELD(%s)=%x\n", name, f->pos[0] / 8);
			continue;
		}
		out_printf(&o, "BITS(%s)=", name);
		for (b = 0; b < f->width; b++) {
			const char *sep = b + 1 < f->width ? "," : "\n";

			if (f->pos[b] == VMCSINFO_NO_BIT)
				out_printf(&o, "-%s", sep);
			else
				out_printf(&o, "%x%s", f->pos[b], sep);
		}
	}
	return o.pos;
}
