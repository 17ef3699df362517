// SPDX-License-Identifier: GPL-2.0-only
/*
 * Simulated VMX backend, semantics from DESIGN.md CONTRACT 3:
 * VMPTRLD checks the revision id and loads every field from memory;
 * VMREAD/VMWRITE act on that loaded copy only; VMCLEAR writes every field back
 * and then overwrites each clear_scribble range with arbitrary bytes.
 * Unsupported encodings fail with error 12 unless absent_reads_zero; VMWRITE
 * to a read-only (type 1) field fails with error 13 unless VMX_MISC bit 29.
 * VMfailValid also stores the error number in VM_INSTRUCTION_ERROR, as a
 * real CPU does.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "sim_cpu.h"

static __printf(3, 4) int errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

#define ERR(...) errf(err, errlen, __VA_ARGS__)

void sim_init(struct sim_cpu *c, u32 revision_id, u32 region_size,
	      u64 vmx_misc)
{
	unsigned int i;

	memset(c, 0, sizeof(*c));
	c->revision_id = revision_id;
	c->region_size = region_size;
	c->vmx_misc = vmx_misc;
	strcpy(c->vendor, "GenuineIntel");
	c->rng = 0x5eed5eed12345678ULL;
	for (i = 0; i < VMCSINFO_ENC_SPACE; i++)
		c->index[i] = -1;
}

void sim_free(struct sim_cpu *c)
{
	free(c->fields);
	free(c->scribble);
	c->fields = NULL;
	c->scribble = NULL;
	c->nfields = 0;
	c->nscribble = 0;
}

int sim_add_field(struct sim_cpu *c, u32 enc, const int *pos,
		  char *err, size_t errlen)
{
	unsigned int width, i;
	struct sim_field *f;

	if (enc >= VMCSINFO_ENC_SPACE)
		return ERR("encoding %u is outside the 15-bit encoding space", enc);
	if (enc & 1)
		return ERR("encoding %#x is a HIGH access; list FULL encodings only (even numbers)", enc);
	if (c->index[enc] >= 0)
		return ERR("encoding %#x is listed twice", enc);
	width = vmcsinfo_enc_width(enc);
	if (c->nfields == c->cap_fields) {
		unsigned int cap = c->cap_fields ? 2 * c->cap_fields : 64;
		struct sim_field *nf = realloc(c->fields, cap * sizeof(*nf));

		if (!nf)
			return ERR("out of memory");
		c->fields = nf;
		c->cap_fields = cap;
	}
	f = &c->fields[c->nfields];
	memset(f, 0, sizeof(*f));
	f->enc = enc;
	f->width = width;
	for (i = 0; i < 64; i++) {
		int q = i < width ? pos[i] : SIM_NONE;

		if (q != SIM_NONE &&
		    (q < (int)(VMCSINFO_HEADER_BYTES * 8) ||
		     q >= (int)(c->region_size * 8)))
			return ERR("encoding %#x bit %u: position %d is outside the region's field area [%u, %u)",
				   enc, i, q, VMCSINFO_HEADER_BYTES * 8,
				   c->region_size * 8);
		f->pos[i] = q;
		f->mirror[i] = SIM_NONE;
		if (q != SIM_NONE)
			f->stored |= 1ULL << i;
	}
	c->index[enc] = (int)c->nfields++;
	return 0;
}

int sim_add_field_at(struct sim_cpu *c, u32 enc, u32 offset,
		     char *err, size_t errlen)
{
	int pos[64];
	unsigned int i, width = vmcsinfo_enc_width(enc & 0x7fff);

	if (offset < VMCSINFO_HEADER_BYTES || offset + width / 8 > c->region_size)
		return ERR("encoding %#x: offset %u does not fit a %u-bit field in the region (bytes %u to %u)",
			   enc, offset, width, VMCSINFO_HEADER_BYTES,
			   c->region_size);
	for (i = 0; i < 64; i++)
		pos[i] = i < width ? (int)(offset * 8 + i) : SIM_NONE;
	return sim_add_field(c, enc, pos, err, errlen);
}

int sim_add_mirror(struct sim_cpu *c, u32 enc, unsigned int bit, int pos,
		   char *err, size_t errlen)
{
	int i = enc < VMCSINFO_ENC_SPACE ? c->index[enc] : -1;

	if (i < 0 || bit >= c->fields[i].width)
		return ERR("mirror: encoding %#x has no bit %u", enc, bit);
	if (pos < (int)(VMCSINFO_HEADER_BYTES * 8) || pos >= (int)(c->region_size * 8))
		return ERR("mirror: position %d is outside the region's field area", pos);
	c->fields[i].mirror[bit] = pos;
	return 0;
}

int sim_add_scribble(struct sim_cpu *c, u32 start, u32 end,
		     char *err, size_t errlen)
{
	if (start >= end || end > c->region_size)
		return ERR("clear_scribble range [%u, %u) is empty or outside the %u-byte region",
			   start, end, c->region_size);
	if (c->nscribble == c->cap_scribble) {
		unsigned int cap = c->cap_scribble ? 2 * c->cap_scribble : 8;
		struct sim_scribble *ns = realloc(c->scribble, cap * sizeof(*ns));

		if (!ns)
			return ERR("out of memory");
		c->scribble = ns;
		c->cap_scribble = cap;
	}
	c->scribble[c->nscribble].start = start;
	c->scribble[c->nscribble].end = end;
	c->nscribble++;
	return 0;
}

u64 sim_vmx_basic(const struct sim_cpu *c)
{
	return (u64)c->revision_id | ((u64)c->region_size << 32);
}

/* ---- the VMX instructions ---- */

static struct sim_field *lookup(struct sim_cpu *c, u32 enc, int *high)
{
	struct sim_field *f;
	int i;

	*high = 0;
	if (enc >= VMCSINFO_ENC_SPACE)
		return NULL;
	if (enc & 1) {
		/* HIGH access: only for 64-bit (not natural-width) fields */
		if (((enc >> 13) & 3) != 1)
			return NULL;
		*high = 1;
	}
	i = c->index[enc & ~1u];
	f = i >= 0 ? &c->fields[i] : NULL;
	return f;
}

static int vm_fail_valid(struct sim_cpu *c, int error)
{
	int i = c->index[VMCSINFO_ENC_VM_INSTRUCTION_ERROR];

	if (i >= 0)
		c->fields[i].val = (u64)error & c->fields[i].stored;
	return error;
}

static int sim_vmxon(void *ctx)
{
	struct sim_cpu *c = ctx;

	if (c->in_vmx)
		return VMCSINFO_FAIL_INVALID;
	if (++c->n_vmxon == c->fault_vmxon_at)
		return VMCSINFO_FAIL_FAULT;
	if (c->n_vmxon == c->fail_vmxon_at)
		return VMCSINFO_FAIL_INVALID;
	c->in_vmx = 1;
	c->current = 0;
	return 0;
}

static void sim_vmxoff(void *ctx)
{
	struct sim_cpu *c = ctx;

	c->in_vmx = 0;
	c->current = 0;
}

static void put_bit(u8 *mem, int q, int bit)
{
	if (q == SIM_NONE)
		return;
	if (bit)
		mem[q / 8] |= (u8)(1u << (q % 8));
	else
		mem[q / 8] &= (u8)~(1u << (q % 8));
}

static int sim_vmclear(void *ctx)
{
	struct sim_cpu *c = ctx;
	unsigned int n, b, s;

	if (!c->in_vmx)
		return VMCSINFO_FAIL_FAULT;
	if (++c->n_vmclear == c->fault_vmclear_at)
		return VMCSINFO_FAIL_FAULT;
	if (c->n_vmclear == c->fail_vmclear_at)
		return c->current ? vm_fail_valid(c, 2) : VMCSINFO_FAIL_INVALID;
	if (c->current) {
		for (n = 0; n < c->nfields; n++) {
			const struct sim_field *f = &c->fields[n];

			for (b = 0; b < f->width; b++) {
				put_bit(c->mem, f->pos[b], (f->val >> b) & 1);
				put_bit(c->mem, f->mirror[b], (f->val >> b) & 1);
			}
		}
		c->current = 0;
	}
	for (s = 0; s < c->nscribble; s++)
		for (b = c->scribble[s].start; b < c->scribble[s].end; b++)
			c->mem[b] = (u8)(vmcsinfo_rand(&c->rng) >> 56);
	return 0;
}

static int sim_vmptrld(void *ctx)
{
	struct sim_cpu *c = ctx;
	unsigned int n, b;
	u32 hdr;

	if (!c->in_vmx)
		return VMCSINFO_FAIL_FAULT;
	if (++c->n_vmptrld == c->fault_vmptrld_at)
		return VMCSINFO_FAIL_FAULT;
	if (c->n_vmptrld == c->fail_vmptrld_at)
		return c->current ? vm_fail_valid(c, 9) : VMCSINFO_FAIL_INVALID;
	memcpy(&hdr, c->mem, sizeof(hdr));
	if (hdr != c->revision_id)	/* also rejects the shadow bit 31 */
		return c->current ? vm_fail_valid(c, 11) : VMCSINFO_FAIL_INVALID;
	for (n = 0; n < c->nfields; n++) {
		struct sim_field *f = &c->fields[n];

		f->val = 0;
		for (b = 0; b < f->width; b++) {
			int q = f->pos[b];

			if (q != SIM_NONE && ((c->mem[q / 8] >> (q % 8)) & 1))
				f->val |= 1ULL << b;
		}
	}
	c->current = 1;
	return 0;
}

static int sim_vmread(void *ctx, u32 enc, u64 *val)
{
	struct sim_cpu *c = ctx;
	struct sim_field *f;
	int high;

	c->n_vmread++;
	if (!c->in_vmx || c->n_vmread == c->fault_vmread_at)
		return VMCSINFO_FAIL_FAULT;
	if (!c->current)
		return VMCSINFO_FAIL_INVALID;
	f = lookup(c, enc, &high);
	if (!f) {
		if (c->absent_reads_zero) {
			*val = 0;
			return 0;
		}
		return vm_fail_valid(c, VMCSINFO_VMXERR_UNSUPPORTED_FIELD);
	}
	*val = high ? f->val >> 32 : f->val;
	return 0;
}

static int sim_vmwrite(void *ctx, u32 enc, u64 val)
{
	struct sim_cpu *c = ctx;
	struct sim_field *f;
	u64 wm;
	int high;

	c->n_vmwrite++;
	if (!c->in_vmx || c->n_vmwrite == c->fault_vmwrite_at)
		return VMCSINFO_FAIL_FAULT;
	if (!c->current)
		return VMCSINFO_FAIL_INVALID;
	f = lookup(c, enc, &high);
	if (!f) {
		if (c->absent_reads_zero)
			return 0;
		return vm_fail_valid(c, VMCSINFO_VMXERR_UNSUPPORTED_FIELD);
	}
	if (((enc >> 10) & 3) == 1 && !(c->vmx_misc & (1ULL << 29)))
		return vm_fail_valid(c, VMCSINFO_VMXERR_READ_ONLY_FIELD);
	if (high)
		val = (f->val & 0xffffffffULL) | (val << 32);
	wm = f->width >= 64 ? ~0ULL : (1ULL << f->width) - 1;
	f->val = val & wm & f->stored;
	return 0;
}

const struct vmcsinfo_ops sim_ops = {
	.vmxon = sim_vmxon,
	.vmxoff = sim_vmxoff,
	.vmclear = sim_vmclear,
	.vmptrld = sim_vmptrld,
	.vmread = sim_vmread,
	.vmwrite = sim_vmwrite,
};

int sim_probe_setup(struct sim_cpu *c, struct vmcsinfo_probe *p, u64 seed)
{
	size_t ws = vmcsinfo_workspace_size();
	void *mem;

	memset(p, 0, sizeof(*p));
	p->vmcs = aligned_alloc(4096, VMCSINFO_MAX_REGION);
	mem = aligned_alloc(64, (ws + 63) & ~(size_t)63);
	if (!p->vmcs || !mem) {
		free(p->vmcs);
		free(mem);
		return -1;
	}
	vmcsinfo_probe_init(p, mem, ws);
	memset(p->vmcs, 0, VMCSINFO_MAX_REGION);
	c->mem = p->vmcs;
	c->in_vmx = 0;
	c->current = 0;
	p->ops = &sim_ops;
	p->ctx = c;
	p->vmx_basic = sim_vmx_basic(c);
	p->vmx_misc = c->vmx_misc;
	memcpy(p->vendor, c->vendor, sizeof(p->vendor));
	p->cpu_signature = c->cpu_signature;
	p->microcode = c->microcode;
	p->seed = seed;
	return 0;
}

void sim_probe_teardown(struct vmcsinfo_probe *p)
{
	free(p->vmcs);
	free(p->cand);		/* the workspace starts with cand */
	p->vmcs = NULL;
	p->cand = NULL;
}

/* ---- LAYOUT.json ---- */

static int get_uint(json_t *obj, const char *key, int required, u64 max,
		    u64 *out, const char *where, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	json_int_t i;

	if (!v) {
		if (required)
			return ERR("%s: missing required key '%s'", where, key);
		return 1;
	}
	if (!json_is_integer(v))
		return ERR("%s: '%s' must be a decimal integer", where, key);
	i = json_integer_value(v);
	if (i < 0 || (u64)i > max)
		return ERR("%s: '%s' is %lld; it must be between 0 and %llu",
			   where, key, (long long)i, (unsigned long long)max);
	*out = (u64)i;
	return 0;
}

static void warn_unknown(json_t *obj, const char *where,
			 const char *const *known)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		const char *const *k;

		for (k = known; *k; k++)
			if (!strcmp(*k, key))
				break;
		if (!*k)
			fprintf(stderr, "vmcsinfo-sim: warning: %s: unknown key '%s' ignored\n",
				where, key);
	}
}

static int load_field(struct sim_cpu *c, json_t *jf, unsigned int idx,
		      char *err, size_t errlen)
{
	static const char *const known[] = { "encoding", "offset", "bits",
					     "name", "comment", NULL };
	char where[48], sub[160];
	json_t *bits, *off;
	u64 enc, offset;
	int pos[64];
	unsigned int width, i;

	snprintf(where, sizeof(where), "fields[%u]", idx);
	if (!json_is_object(jf))
		return ERR("%s: each field must be an object", where);
	warn_unknown(jf, where, known);
	if (get_uint(jf, "encoding", 1, VMCSINFO_ENC_SPACE - 1, &enc, where,
		     err, errlen))
		return -1;
	off = json_object_get(jf, "offset");
	bits = json_object_get(jf, "bits");
	if (!!off == !!bits)
		return ERR("%s: give exactly one of 'offset' and 'bits'", where);
	if (off) {
		if (get_uint(jf, "offset", 1, VMCSINFO_MAX_REGION, &offset,
			     where, err, errlen))
			return -1;
		if (sim_add_field_at(c, (u32)enc, (u32)offset, sub, sizeof(sub)))
			return ERR("%s: %s", where, sub);
		return 0;
	}
	width = vmcsinfo_enc_width((u32)enc);
	/*
	 * One entry per field bit, least significant first; the bits after a
	 * shorter array's last entry are stored nowhere, as null ones are
	 * (CONTRACT 3's own example gives 3 entries for a 32-bit field).
	 */
	if (!json_is_array(bits) || json_array_size(bits) > width)
		return ERR("%s: 'bits' must be an array of at most %u entries (one per bit of this %u-bit field, least significant first)",
			   where, width, width);
	for (i = 0; i < 64; i++) {
		json_t *b = i < width ? json_array_get(bits, i) : NULL;

		pos[i] = SIM_NONE;
		if (!b || json_is_null(b))
			continue;
		if (!json_is_integer(b) || json_integer_value(b) < 0 ||
		    json_integer_value(b) >= VMCSINFO_REGION_BITS)
			return ERR("%s: bits[%u] must be null or a bit position (integer)",
				   where, i);
		pos[i] = (int)json_integer_value(b);
	}
	if (sim_add_field(c, (u32)enc, pos, sub, sizeof(sub)))
		return ERR("%s: %s", where, sub);
	return 0;
}

int sim_load_json(struct sim_cpu *c, const char *text, char *err,
		  size_t errlen)
{
	static const char *const known[] = {
		"revision_id", "region_size", "vmx_misc", "vendor",
		"cpu_signature", "microcode", "absent_reads_zero",
		"clear_scribble", "fields", "comment", NULL };
	json_error_t jerr;
	json_t *root, *v, *fields, *scr;
	u64 rev, size, misc = 0, sig = 0, ucode = 0;
	size_t i;
	int rc = -1;

	sim_init(c, 0, 2 * VMCSINFO_HEADER_BYTES, 0);
	root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return ERR("line %d column %d: %s", jerr.line, jerr.column,
			   jerr.text);
	if (!json_is_object(root)) {
		ERR("the layout must be a JSON object");
		goto out;
	}
	warn_unknown(root, "layout", known);
	if (get_uint(root, "revision_id", 1, 0x7fffffff, &rev, "layout", err, errlen) ||
	    get_uint(root, "region_size", 1, VMCSINFO_MAX_REGION, &size, "layout", err, errlen) ||
	    get_uint(root, "vmx_misc", 0, ~0ULL >> 1, &misc, "layout", err, errlen) < 0 ||
	    get_uint(root, "cpu_signature", 0, 0xffffffff, &sig, "layout", err, errlen) < 0 ||
	    get_uint(root, "microcode", 0, 0xffffffff, &ucode, "layout", err, errlen) < 0)
		goto out;
	if (size < 2 * VMCSINFO_HEADER_BYTES) {
		ERR("layout: 'region_size' is %llu; it must be between 8 and 4096",
		    (unsigned long long)size);
		goto out;
	}
	c->revision_id = (u32)rev;
	c->region_size = (u32)size;
	c->vmx_misc = misc;
	c->cpu_signature = (u32)sig;
	c->microcode = (u32)ucode;
	v = json_object_get(root, "vendor");
	if (v) {
		if (!json_is_string(v) || strlen(json_string_value(v)) != 12) {
			ERR("layout: 'vendor' must be a 12-character string such as \"GenuineIntel\"");
			goto out;
		}
		strcpy(c->vendor, json_string_value(v));
	}
	v = json_object_get(root, "absent_reads_zero");
	if (v && !json_is_boolean(v)) {
		ERR("layout: 'absent_reads_zero' must be true or false");
		goto out;
	}
	c->absent_reads_zero = v && json_is_true(v);
	scr = json_object_get(root, "clear_scribble");
	if (scr && !json_is_array(scr)) {
		ERR("layout: 'clear_scribble' must be an array of [start, end] byte ranges");
		goto out;
	}
	for (i = 0; scr && i < json_array_size(scr); i++) {
		json_t *r = json_array_get(scr, i);
		json_t *a = json_array_get(r, 0), *b = json_array_get(r, 1);
		char sub[128];

		if (!json_is_array(r) || json_array_size(r) != 2 ||
		    !json_is_integer(a) || !json_is_integer(b) ||
		    json_integer_value(a) < 0 || json_integer_value(b) < 0 ||
		    json_integer_value(b) > VMCSINFO_MAX_REGION) {
			ERR("clear_scribble[%zu]: must be [start, end] with 0 <= start < end <= region_size",
			    i);
			goto out;
		}
		if (sim_add_scribble(c, (u32)json_integer_value(a),
				     (u32)json_integer_value(b), sub, sizeof(sub))) {
			ERR("clear_scribble[%zu]: %s", i, sub);
			goto out;
		}
	}
	fields = json_object_get(root, "fields");
	if (!json_is_array(fields)) {
		ERR("layout: missing required key 'fields' (an array of {\"encoding\", \"offset\" or \"bits\"})");
		goto out;
	}
	for (i = 0; i < json_array_size(fields); i++)
		if (load_field(c, json_array_get(fields, i), (unsigned int)i,
			       err, errlen))
			goto out;
	rc = 0;
out:
	json_decref(root);
	return rc;
}
