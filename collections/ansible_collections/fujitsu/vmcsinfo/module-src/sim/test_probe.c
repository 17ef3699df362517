// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tests of the probe core against simulated VMX CPUs.  Each test builds a
 * layout, runs the real probe core on it and compares what the probe found
 * with the layout it was given, bit by bit; rejection tests check that the
 * probe fails with a reason naming the problem.  Built with ASan + UBSan.
 * Ends with the line "N passed, M failed".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/kernel.h>

#include "sim_cpu.h"
#include "../vmcsinfo_names.h"

#define NNAMES ARRAY_SIZE(vmcsinfo_names)

static unsigned int passed, failed;
static struct sim_cpu cpu;
static char msg[1024];

#define CHECK(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			snprintf(msg, sizeof(msg), __VA_ARGS__);	\
			return 0;					\
		}							\
	} while (0)

static void run(const char *name, int (*fn)(void))
{
	msg[0] = '\0';
	if (fn()) {
		passed++;
		printf("ok - %s\n", name);
	} else {
		failed++;
		printf("not ok - %s: %s\n", name, msg);
	}
	sim_free(&cpu);
}

static u64 rng = 0x1234567887654321ULL;

static u64 rnd(void)
{
	return vmcsinfo_rand(&rng);
}

static unsigned int rnd_below(unsigned int n)
{
	return (unsigned int)(rnd() % n);
}

static void add_at(u32 enc, u32 off)
{
	char err[200];

	if (sim_add_field_at(&cpu, enc, off, err, sizeof(err))) {
		fprintf(stderr, "test setup: %s\n", err);
		abort();
	}
}

static void add_bits(u32 enc, const int *pos)
{
	char err[200];

	if (sim_add_field(&cpu, enc, pos, err, sizeof(err))) {
		fprintf(stderr, "test setup: %s\n", err);
		abort();
	}
}

static void scribble(u32 start, u32 end)
{
	char err[200];

	if (sim_add_scribble(&cpu, start, end, err, sizeof(err))) {
		fprintf(stderr, "test setup: %s\n", err);
		abort();
	}
}

static int is_listed(u32 enc)
{
	return cpu.index[enc] >= 0;
}

/* Run the probe; on success compare every field with the simulated truth. */
static int probe_matches(struct vmcsinfo_probe *p, u64 seed, int *rc)
{
	unsigned int n, b, expect = 0, k = 0;

	if (sim_probe_setup(&cpu, p, seed)) {
		snprintf(msg, sizeof(msg), "out of memory");
		return 0;
	}
	*rc = vmcsinfo_probe_run(p);
	if (cpu.in_vmx) {
		snprintf(msg, sizeof(msg), "probe returned still in VMX operation");
		return 0;
	}
	if (*rc)
		return 1;
	for (n = 0; n < cpu.nfields; n++)
		if (cpu.fields[n].stored || !cpu.absent_reads_zero)
			expect++;
	CHECK(p->nfields == expect, "found %u fields, layout has %u",
	      p->nfields, expect);
	for (n = 0; n < p->nfields; n++) {
		const struct vmcsinfo_field *f = &p->fields[n];
		const struct sim_field *t;

		CHECK(f->enc < VMCSINFO_ENC_SPACE && is_listed(f->enc),
		      "found encoding %#x that the layout does not have", f->enc);
		CHECK(!n || p->fields[n - 1].enc < f->enc,
		      "fields not in encoding order at %#x", f->enc);
		t = &cpu.fields[cpu.index[f->enc]];
		CHECK(f->width == t->width, "%#x: width %u, expected %u",
		      f->enc, f->width, t->width);
		for (b = 0; b < 64; b++) {
			int want = b < t->width ? t->pos[b] : SIM_NONE;
			int got = f->pos[b] == VMCSINFO_NO_BIT ? SIM_NONE : f->pos[b];

			CHECK(b >= t->width || want == got,
			      "%#x bit %u: found at %d, stored at %d", f->enc,
			      b, got, want);
		}
		k++;
	}
	CHECK(k == expect, "compared %u of %u fields", k, expect);
	return 1;
}

static int expect_ok(u64 seed)
{
	struct vmcsinfo_probe p;
	int rc, ok = probe_matches(&p, seed, &rc);

	if (ok && rc) {
		snprintf(msg, sizeof(msg), "probe failed (%d): %s", rc, p.err);
		ok = 0;
	}
	sim_probe_teardown(&p);
	return ok;
}

static int expect_fail(int want_rc, const char *needle)
{
	struct vmcsinfo_probe p;
	int rc, ok = probe_matches(&p, 7, &rc);

	if (ok && rc != want_rc) {
		snprintf(msg, sizeof(msg), "rc %d, expected %d (err '%s')", rc,
			 want_rc, p.err);
		ok = 0;
	} else if (ok && !strstr(p.err, needle)) {
		snprintf(msg, sizeof(msg), "reason '%s' does not mention '%s'",
			 p.err, needle);
		ok = 0;
	} else if (ok && p.nfields) {
		snprintf(msg, sizeof(msg), "failed probe still reports fields");
		ok = 0;
	}
	sim_probe_teardown(&p);
	return ok;
}

/* Text of a successful probe, or NULL. Caller frees. */
static char *probe_text(u64 seed)
{
	struct vmcsinfo_probe p;
	char *text = NULL;
	size_t len;

	if (sim_probe_setup(&cpu, &p, seed))
		return NULL;
	if (!vmcsinfo_probe_run(&p)) {
		len = vmcsinfo_format(&p, NULL, 0);
		text = malloc(len + 1);
		if (text && vmcsinfo_format(&p, text, len + 1) != len) {
			free(text);
			text = NULL;
		}
	}
	sim_probe_teardown(&p);
	return text;
}

/* Every Linux field at its own naturally aligned offset, shuffled. */
static void realistic_layout(u32 region, u64 misc)
{
	unsigned int order[NNAMES], i, j, off = 16;

	sim_init(&cpu, 0x12, region, misc);
	for (i = 0; i < NNAMES; i++)
		order[i] = i;
	for (i = NNAMES - 1; i > 0; i--) {
		unsigned int t;

		j = rnd_below(i + 1);
		t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (i = 0; i < NNAMES; i++) {
		u32 enc = vmcsinfo_names[order[i]].enc;
		unsigned int bytes = vmcsinfo_enc_width(enc) / 8;

		off = (off + bytes - 1) & ~(bytes - 1);
		add_at(enc, off);
		off += bytes;
	}
}

static int t_plain_all_linux_fields(void)
{
	realistic_layout(4096, 1ULL << 29);
	return expect_ok(1);
}

static int t_readonly_without_misc29(void)
{
	struct vmcsinfo_probe p;
	unsigned int n, ro = 0;
	int rc, ok;

	realistic_layout(4096, 0);
	ok = probe_matches(&p, 3, &rc);
	for (n = 0; ok && !rc && n < p.nfields; n++)
		if (((p.fields[n].enc >> 10) & 3) == 1) {
			ro++;
			if (p.fields[n].writable)
				ok = 0;
		}
	if (ok && (rc || ro < 10)) {
		snprintf(msg, sizeof(msg), "rc %d (%s), %u read-only fields", rc,
			 p.err, ro);
		ok = 0;
	}
	sim_probe_teardown(&p);
	return ok;
}

static void rotated(int *pos, u32 off, unsigned int width, unsigned int rot)
{
	unsigned int b;

	for (b = 0; b < 64; b++)
		pos[b] = b < width ? (int)(off * 8 + (b + rot) % width) : SIM_NONE;
}

static int t_rotated_access_rights(void)
{
	int pos[64];
	u32 enc;

	sim_init(&cpu, 0x1, 4096, 1ULL << 29);
	/* GUEST_ES_AR_BYTES .. GUEST_TR_AR_BYTES, rotated by 8 as Bochs does */
	for (enc = 0x4814; enc <= 0x4822; enc += 2) {
		rotated(pos, 0x200 + (enc - 0x4814) * 2, 32, 8);
		add_bits(enc, pos);
	}
	add_at(0x681e, 0x100);	/* GUEST_RIP */
	return expect_ok(2);
}

static int t_permuted_bits(void)
{
	int pos[64], used[4096 * 8] = { 0 };
	unsigned int i, b;
	u32 encs[] = { 0x0800, 0x2800, 0x4002, 0x4814, 0x6802, 0x681c, 0x681e };

	sim_init(&cpu, 0x4, 4096, 1ULL << 29);
	for (i = 0; i < sizeof(encs) / sizeof(encs[0]); i++) {
		for (b = 0; b < 64; b++) {
			int q;

			do {
				q = 32 + (int)rnd_below(4096 * 8 - 32);
			} while (used[q]);
			used[q] = 1;
			pos[b] = q;
		}
		add_bits(encs[i], pos);
	}
	return expect_ok(4);
}

static int t_unstored_bits(void)
{
	int pos[64];
	unsigned int b;

	sim_init(&cpu, 0x10, 4096, 1ULL << 29);
	/* AR bytes packed: bits 8-11 and 17-31 not stored */
	for (b = 0; b < 64; b++)
		pos[b] = SIM_NONE;
	for (b = 0; b < 8; b++)
		pos[b] = 0x300 * 8 + b;
	for (b = 12; b < 17; b++)
		pos[b] = 0x300 * 8 + b - 4;
	add_bits(0x4814, pos);
	/* a supported field with nothing stored: still listed */
	for (b = 0; b < 64; b++)
		pos[b] = SIM_NONE;
	add_bits(0x4816, pos);
	add_at(0x681e, 0x400);
	return expect_ok(5);
}

static int t_absent_reads_zero(void)
{
	int pos[64];
	unsigned int b;
	struct vmcsinfo_probe p;
	int rc, ok;

	realistic_layout(4096, 0);
	cpu.absent_reads_zero = 1;
	for (b = 0; b < 64; b++)
		pos[b] = SIM_NONE;
	add_bits(0x6840, pos);	/* supported but nothing stored: absent */
	ok = probe_matches(&p, 6, &rc);
	if (ok && (rc || !p.reads_zero)) {
		snprintf(msg, sizeof(msg), "rc %d (%s), reads_zero %d", rc,
			 p.err, p.reads_zero);
		ok = 0;
	}
	sim_probe_teardown(&p);
	return ok;
}

static int t_scribble_free_bytes(void)
{
	realistic_layout(4096, 1ULL << 29);
	scribble(3000, 3100);	/* realistic_layout ends well before */
	scribble(4000, 4096);
	return expect_ok(8);
}

static int t_scribble_header(void)
{
	realistic_layout(4096, 0);
	scribble(0, 4);		/* revision id */
	scribble(4, 8);		/* abort indicator */
	scribble(8, 16);	/* launch state: below realistic_layout's fields */
	return expect_ok(9);
}

static int region_size_case(u32 region)
{
	sim_init(&cpu, 0x21, region, 0);
	add_at(0x0800, 8);
	add_at(0x2800, region - 8);	/* last bytes of the region */
	add_at(0x4402, region / 2);
	add_at(0x681e, region - 16);
	scribble(region - 24, region - 16);
	return expect_ok(region);
}

static int t_region_1024(void)
{
	return region_size_case(1024);
}

static int t_region_2048(void)
{
	return region_size_case(2048);
}

static int t_region_4096(void)
{
	return region_size_case(4096);
}

static int t_region_small(void)
{
	sim_init(&cpu, 0x21, 64, 0);
	add_at(0x0800, 8);
	add_at(0x681e, 56);
	return expect_ok(11);
}

static int t_reject_vmclear_corrupts_field(void)
{
	sim_init(&cpu, 0x2b, 4096, 1ULL << 29);
	add_at(0x0800, 0x40);
	add_at(0x681e, 0xe88);
	scribble(0xe8c, 0xe90);	/* upper half of GUEST_RIP */
	return expect_fail(-EIO, "GUEST_RIP");
}

static int t_reject_vmclear_corrupts_readonly(void)
{
	sim_init(&cpu, 0x2b, 4096, 0);
	add_at(0x0800, 0x40);
	add_at(0x4402, 0x80);	/* VM_EXIT_REASON, read-only, no misc29 */
	scribble(0x80, 0x82);
	return expect_fail(-EIO, "VM_EXIT_REASON");
}

static int t_reject_corruption_only_self_check_sees(void)
{
	/* all fields read-only, no VMX_MISC bit 29: the write path has nothing
	 * to write, so only the round trip through VMCLEAR can catch this
	 */
	sim_init(&cpu, 0x2b, 4096, 0);
	add_at(0x4400, 0x40);	/* VM_INSTRUCTION_ERROR */
	add_at(0x4402, 0x80);	/* VM_EXIT_REASON */
	add_at(0x6400, 0xc0);	/* EXIT_QUALIFICATION */
	scribble(0xc4, 0xc6);
	return expect_fail(-EIO, "self-check: EXIT_QUALIFICATION");
}

static int t_reject_shared_bit(void)
{
	int pos[64];

	sim_init(&cpu, 0x2b, 4096, 1ULL << 29);
	add_at(0x681e, 0x100);
	rotated(pos, 0x100, 32, 0);	/* GUEST_ES_AR_BYTES over GUEST_RIP */
	add_bits(0x4814, pos);
	return expect_fail(-EIO, "both stored");
}

static int t_reject_copy_only_write_path_sees(void)
{
	char err[200];

	sim_init(&cpu, 0x2b, 4096, 1ULL << 29);
	add_at(0x0800, 0x40);
	add_at(0x681e, 0xe88);	/* GUEST_RIP */
	/* VMCLEAR also stores GUEST_RIP bit 5 at bit 0x7000; VMPTRLD ignores it */
	if (sim_add_mirror(&cpu, 0x681e, 5, 0x7000, err, sizeof(err))) {
		snprintf(msg, sizeof(msg), "setup: %s", err);
		return 0;
	}
	return expect_fail(-EIO, "GUEST_RIP also changes VMCS bit 7000");
}

static int t_reject_bad_region_size(void)
{
	sim_init(&cpu, 0x2b, 0, 0);
	return expect_fail(-EINVAL, "0-byte VMCS region");
}

static int fail_case(unsigned long *at, unsigned long n, const char *insn)
{
	realistic_layout(4096, 1ULL << 29);
	*at = n;
	return expect_fail(-EIO, insn);
}

static int t_fail_vmxon(void)
{
	return fail_case(&cpu.fail_vmxon_at, 1, "VMXON");
}

static int t_fail_first_vmptrld(void)
{
	return fail_case(&cpu.fail_vmptrld_at, 1, "VMPTRLD");
}

static int t_fail_late_vmptrld(void)
{
	return fail_case(&cpu.fail_vmptrld_at, 60, "VMPTRLD");
}

static int t_fail_vmclear(void)
{
	return fail_case(&cpu.fail_vmclear_at, 5, "VMCLEAR");
}

static int t_fail_last_vmptrld(void)
{
	struct vmcsinfo_probe p;
	unsigned long total;

	/* count VMPTRLDs of a good run, then fail the very last one */
	realistic_layout(4096, 0);
	if (sim_probe_setup(&cpu, &p, 1) || vmcsinfo_probe_run(&p)) {
		snprintf(msg, sizeof(msg), "baseline probe failed: %s", p.err);
		sim_probe_teardown(&p);
		return 0;
	}
	total = cpu.n_vmptrld;
	sim_probe_teardown(&p);
	cpu.n_vmptrld = 0;
	cpu.n_vmxon = 0;
	cpu.fail_vmptrld_at = total;
	return expect_fail(-EIO, "VMPTRLD");
}

/*
 * A fault (#GP/#UD) at any VMX instruction, early or late: the probe fails
 * naming it, and leaves VMX as it found it (VMXOFF done whenever VMXON
 * succeeded; the kernel side clears CR4.VMXE after every return).
 */
static int fault_case(unsigned long *at, unsigned long n, const char *insn)
{
	struct vmcsinfo_probe p;
	int rc, ok;

	realistic_layout(4096, 1ULL << 29);
	*at = n;
	ok = probe_matches(&p, 7, &rc);
	if (ok && (rc != -EIO || !strstr(p.err, insn) || !strstr(p.err, "faulted"))) {
		snprintf(msg, sizeof(msg), "rc %d, reason '%s' (want -EIO, %s ... faulted)", rc,
			 p.err, insn);
		ok = 0;
	} else if (ok && cpu.in_vmx) {
		snprintf(msg, sizeof(msg), "still in VMX operation after a %s fault", insn);
		ok = 0;
	} else if (ok && p.nfields) {
		snprintf(msg, sizeof(msg), "a faulted probe still reports fields");
		ok = 0;
	}
	sim_probe_teardown(&p);
	sim_free(&cpu);
	return ok;
}

static int t_fault_each_instruction(void)
{
	static const unsigned long when[] = { 1, 2, 17, 300 };
	unsigned int w;

	if (!fault_case(&cpu.fault_vmxon_at, 1, "VMXON"))
		return 0;
	for (w = 0; w < sizeof(when) / sizeof(when[0]); w++) {
		if (!fault_case(&cpu.fault_vmclear_at, when[w], "VMCLEAR") ||
		    !fault_case(&cpu.fault_vmptrld_at, when[w], "VMPTRLD") ||
		    !fault_case(&cpu.fault_vmread_at, when[w], "VMREAD") ||
		    !fault_case(&cpu.fault_vmwrite_at, when[w], "VMWRITE"))
			return 0;
	}
	return 1;
}

static int t_format_exact(void)
{
	static const char want[] =
		"VMCSINFO_FORMAT=1\n"
		"REVISION_ID=2b\n"
		"REGION_SIZE=1000\n"
		"VMX_BASIC=10000000002b\n"
		"VMX_MISC=20000000\n"
		"CPU_VENDOR=GenuineIntel\n"
		"CPU_SIGNATURE=306c3\n"
		"MICROCODE=28\n"
		"FIELD_COUNT=3\n"
		"FIELD(GUEST_ES_SELECTOR)=500\n"
		"BITS(GUEST_ES_AR_BYTES)=a68,a69,-,a6b,a6c,a6d,a6e,a6f,a70,a71,a72,a73,a74,a75,a76,a77,a78,a79,a7a,a7b,a7c,a7d,a7e,a7f,a80,a81,a82,a83,a84,a85,a86,a87\n"
		"FIELD(ENC_6840)=e90\n";
	int pos[64];
	unsigned int b;
	char *got;
	int ok;

	sim_init(&cpu, 0x2b, 4096, 1ULL << 29);
	cpu.cpu_signature = 0x306c3;
	cpu.microcode = 0x28;
	add_at(0x0800, 0x500);
	for (b = 0; b < 64; b++)
		pos[b] = b < 32 ? 2664 + (int)b : SIM_NONE;
	pos[2] = SIM_NONE;
	add_bits(0x4814, pos);
	add_at(0x6840, 0xe90);	/* not in Linux's enum: ENC_6840 */
	scribble(8, 16);
	got = probe_text(3);
	ok = got && !strcmp(got, want);
	if (!ok)
		snprintf(msg, sizeof(msg), "text differs:\n%s", got ? got : "(probe failed)");
	free(got);
	return ok;
}

static int t_seed_independent(void)
{
	char *a, *b;
	int ok;

	realistic_layout(4096, 0);
	scribble(8, 16);
	a = probe_text(1);
	b = probe_text(0xdeadbeef);
	ok = a && b && !strcmp(a, b);
	if (!ok)
		snprintf(msg, sizeof(msg), "output depends on the random seed");
	free(a);
	free(b);
	return ok;
}

/* Random layouts mixing every storage kind the format can describe. */
static int fuzz_one(unsigned int iter)
{
	static const u32 regions[] = { 1024, 2048, 4096 };
	static int used[4096 * 8];
	u32 region = regions[rnd_below(3)];
	unsigned int nf = 1 + rnd_below(120), i, b, tries;
	int pos[64];

	memset(used, 0, sizeof(used));
	sim_init(&cpu, 1 + rnd_below(0x7ffffffe), region,
		 rnd_below(2) ? 1ULL << 29 : 0);
	cpu.absent_reads_zero = (int)rnd_below(2);
	cpu.cpu_signature = (u32)rnd();
	cpu.microcode = (u32)rnd();
	if (rnd_below(2))
		scribble(8, 16);
	if (rnd_below(3) == 0)
		scribble(0, 8);
	for (b = 0; b < 16 * 8; b++)
		used[b] = 1;	/* header and launch-state area */
	for (i = 0; i < nf; i++) {
		u32 enc = rnd_below(2) ? vmcsinfo_names[rnd_below(NNAMES)].enc
				       : (u32)rnd_below(VMCSINFO_ENC_SPACE) & ~1u;
		unsigned int width = vmcsinfo_enc_width(enc);
		unsigned int kind = rnd_below(4), bytes = width / 8;

		if (is_listed(enc))
			continue;
		for (b = 0; b < 64; b++)
			pos[b] = SIM_NONE;
		if (kind == 0 || kind == 1) {	/* plain, or rotated */
			u32 off = 0;

			for (tries = 0; tries < 50; tries++) {
				off = (16 + rnd_below(region - 16 - bytes + 1)) & ~(bytes - 1);
				for (b = 0; b < width && !used[off * 8 + b]; b++)
					;
				if (b == width && off >= 16)
					break;
			}
			if (tries == 50)
				continue;
			for (b = 0; b < width; b++)
				pos[b] = (int)(off * 8 + (kind ? (b + 8) % width : b));
		} else {			/* scattered, maybe partly stored */
			for (b = 0; b < width; b++) {
				int q;

				if (kind == 3 && rnd_below(4) == 0)
					continue;
				for (tries = 0; tries < 1000; tries++) {
					q = 128 + (int)rnd_below(region * 8 - 128);
					if (!used[q])
						break;
				}
				if (tries == 1000)
					continue;
				pos[b] = q;
				used[q] = 1;
			}
		}
		for (b = 0; b < width; b++)
			if (pos[b] != SIM_NONE)
				used[pos[b]] = 1;
		add_bits(enc, pos);
	}
	if (!expect_ok(iter + 1)) {
		char where[128];
		size_t wl;

		wl = (size_t)snprintf(where, sizeof(where),
				      "layout %u (region %u, %u fields, reads_zero %d, misc29 %d): ",
				      iter, region, cpu.nfields,
				      cpu.absent_reads_zero,
				      !!(cpu.vmx_misc & (1ULL << 29)));
		if (wl < sizeof(where) && wl + strlen(msg) < sizeof(msg)) {
			memmove(msg + wl, msg, strlen(msg) + 1);
			memcpy(msg, where, wl);
		}
		return 0;
	}
	return 1;
}

static int t_fuzz_random_layouts(void)
{
	unsigned int i, n = getenv("FUZZ_ITERS") ? (unsigned int)atoi(getenv("FUZZ_ITERS")) : 150;

	for (i = 0; i < n; i++) {
		if (!fuzz_one(i))
			return 0;
		sim_free(&cpu);
	}
	return 1;
}

static int json_rejects(const char *json, const char *needle)
{
	char err[256];

	err[0] = '\0';
	CHECK(sim_load_json(&cpu, json, err, sizeof(err)) == -1,
	      "accepted a bad layout: %s", json);
	CHECK(strstr(err, needle), "error '%s' does not mention '%s'", err,
	      needle);
	sim_free(&cpu);
	return 1;
}

static int t_json_errors(void)
{
	return json_rejects("{", "line 1") &&
	       json_rejects("[]", "JSON object") &&
	       json_rejects("{\"region_size\": 4096, \"fields\": []}", "revision_id") &&
	       json_rejects("{\"revision_id\": 1, \"region_size\": 9000, \"fields\": []}", "region_size") &&
	       json_rejects("{\"revision_id\": 1, \"region_size\": 4096}", "fields") &&
	       json_rejects("{\"revision_id\": 1, \"region_size\": 4096, \"fields\": [{\"encoding\": 26655, \"offset\": 8}]}", "HIGH") &&
	       json_rejects("{\"revision_id\": 1, \"region_size\": 4096, \"fields\": [{\"encoding\": 2048, \"bits\": [40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56]}]}", "at most 16 entries") &&
	       json_rejects("{\"revision_id\": 1, \"region_size\": 4096, \"fields\": [{\"encoding\": 26654, \"offset\": 4092}]}", "offset 4092") &&
	       json_rejects("{\"revision_id\": 1, \"region_size\": 4096, \"fields\": [{\"encoding\": 2048, \"offset\": 8}, {\"encoding\": 2048, \"offset\": 16}]}", "twice") &&
	       json_rejects("{\"revision_id\": 1, \"region_size\": 4096, \"fields\": [{\"encoding\": 2048}]}", "exactly one") &&
	       json_rejects("{\"revision_id\": 1, \"region_size\": 4096, \"clear_scribble\": [[8, 5000]], \"fields\": []}", "clear_scribble[0]") &&
	       json_rejects("{\"revision_id\": 1, \"region_size\": 4096, \"absent_reads_zero\": 1, \"fields\": []}", "absent_reads_zero") &&
	       json_rejects("{\"revision_id\": -1, \"region_size\": 4096, \"fields\": []}", "revision_id");
}

static int t_json_contract_example(void)
{
	static const char json[] =
		"{\"revision_id\": 43, \"region_size\": 4096, \"vmx_misc\": 536870912,"
		" \"vendor\": \"GenuineIntel\", \"cpu_signature\": 198339, \"microcode\": 40,"
		" \"absent_reads_zero\": false, \"clear_scribble\": [[8, 16]],"
		" \"fields\": [{\"encoding\": 26654, \"offset\": 3720},"
		" {\"encoding\": 18452, \"bits\": [2664, 2665, null, 2667, 2668, 2669, 2670, 2671,"
		" 2672, 2673, 2674, 2675, 2676, 2677, 2678, 2679, 2680, 2681, 2682, 2683,"
		" 2684, 2685, 2686, 2687, 2688, 2689, 2690, 2691, 2692, 2693, 2694, 2695]}]}";
	char err[256];

	CHECK(!sim_load_json(&cpu, json, err, sizeof(err)), "load: %s", err);
	CHECK(cpu.revision_id == 43 && cpu.region_size == 4096 &&
	      cpu.nfields == 2 && cpu.nscribble == 1 &&
	      cpu.cpu_signature == 198339 && cpu.microcode == 40,
	      "layout fields not loaded as given");
	return expect_ok(12);
}

int main(void)
{
	run("plain: every Linux field", t_plain_all_linux_fields);
	run("read-only fields without VMX_MISC bit 29", t_readonly_without_misc29);
	run("rotated access rights (Bochs)", t_rotated_access_rights);
	run("permuted bits across the region", t_permuted_bits);
	run("unstored bits", t_unstored_bits);
	run("absent_reads_zero", t_absent_reads_zero);
	run("clear_scribble over free bytes", t_scribble_free_bytes);
	run("clear_scribble over the header", t_scribble_header);
	run("region 1024", t_region_1024);
	run("region 2048", t_region_2048);
	run("region 4096", t_region_4096);
	run("region 64", t_region_small);
	run("reject: VMCLEAR corrupts a field", t_reject_vmclear_corrupts_field);
	run("reject: VMCLEAR corrupts a read-only field", t_reject_vmclear_corrupts_readonly);
	run("reject: corruption only the self-check sees",
	    t_reject_corruption_only_self_check_sees);
	run("reject: two fields share a bit", t_reject_shared_bit);
	run("reject: VMCLEAR stores a copy the read path cannot see",
	    t_reject_copy_only_write_path_sees);
	run("reject: bad IA32_VMX_BASIC region size", t_reject_bad_region_size);
	run("failure: VMXON", t_fail_vmxon);
	run("failure: first VMPTRLD", t_fail_first_vmptrld);
	run("failure: VMPTRLD mid-probe", t_fail_late_vmptrld);
	run("failure: last VMPTRLD (self-check)", t_fail_last_vmptrld);
	run("failure: VMCLEAR", t_fail_vmclear);
	run("fault at each VMX instruction, early and late", t_fault_each_instruction);
	run("format: exact text", t_format_exact);
	run("format: independent of the random seed", t_seed_independent);
	run("layout JSON: CONTRACT 3 example", t_json_contract_example);
	run("layout JSON: errors name the problem", t_json_errors);
	run("fuzz: random layouts", t_fuzz_random_layouts);
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
