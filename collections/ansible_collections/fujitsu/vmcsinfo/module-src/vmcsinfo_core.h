/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vmcsinfo probe core: finds the in-memory layout of every VMCS field.
 *
 * This one source is compiled into the vmcsinfo kernel module and into the
 * userspace simulator (sim/vmcsinfo-sim).  It touches VMX only through
 * struct vmcsinfo_ops and the VMCS region memory it is given, so the same
 * code runs against the real CPU and against a simulated one.  It includes
 * kernel headers only; the simulator build puts its userspace stand-ins for
 * them (sim/include/linux/) first on the include path.
 */
#ifndef VMCSINFO_CORE_H
#define VMCSINFO_CORE_H

#include <linux/types.h>

/* Encodings are 15 bits wide (SDM: Structure of VMCS Component Encoding). */
#define VMCSINFO_ENC_SPACE	0x8000u
/* Only FULL encodings are probed: even encodings, half the space. */
#define VMCSINFO_MAX_CANDIDATES	(VMCSINFO_ENC_SPACE / 2)
/* Upper bound on fields with at least one stored bit (real CPUs: ~200). */
#define VMCSINFO_MAX_FIELDS	1024u
#define VMCSINFO_MAX_REGION	4096u
#define VMCSINFO_REGION_BITS	(VMCSINFO_MAX_REGION * 8u)
/* Field bit not stored in the VMCS region. */
#define VMCSINFO_NO_BIT		0xffffu
/* Bytes at the start of the region holding the revision identifier. */
#define VMCSINFO_HEADER_BYTES	4u

/* VM-instruction error numbers (SDM Vol. 3C 31.4). */
#define VMCSINFO_VMXERR_UNSUPPORTED_FIELD	12
#define VMCSINFO_VMXERR_READ_ONLY_FIELD		13

#define VMCSINFO_ENC_VM_INSTRUCTION_ERROR	0x4400u

/*
 * Result of a backend VMX operation:
 * 0: VMsucceed;  > 0: VMfailValid with that VM-instruction error number;
 * VMCSINFO_FAIL_INVALID: VMfailInvalid (no current VMCS / bad pointer);
 * VMCSINFO_FAIL_FAULT: the instruction faulted (#GP/#UD).
 */
#define VMCSINFO_FAIL_INVALID	(-1)
#define VMCSINFO_FAIL_FAULT	(-2)

/*
 * VMX operations on one fixed VMCS region (the one whose memory is
 * struct vmcsinfo_probe.vmcs).  The backend owns the VMXON region.
 */
struct vmcsinfo_ops {
	int (*vmxon)(void *ctx);
	void (*vmxoff)(void *ctx);
	int (*vmclear)(void *ctx);
	int (*vmptrld)(void *ctx);
	int (*vmread)(void *ctx, u32 enc, u64 *val);
	int (*vmwrite)(void *ctx, u32 enc, u64 val);
};

/* One supported VMCS field and where each of its bits is stored. */
struct vmcsinfo_field {
	u16 enc;
	u8 width;		/* 16, 32 or 64 bits */
	u8 writable;		/* VMWRITE allowed (and used by the checks) */
	u64 stored;		/* mask of field bits stored in the region */
	u64 fixed;		/* value of the bits that are not stored */
	u16 pos[64];		/* region bit position of each field bit */
};

struct vmcsinfo_probe {
	/* Inputs, set by the caller before vmcsinfo_probe_run(). */
	const struct vmcsinfo_ops *ops;
	void *ctx;
	u8 *vmcs;		/* VMCS region memory (>= region size bytes) */
	u64 vmx_basic;		/* IA32_VMX_BASIC */
	u64 vmx_misc;		/* IA32_VMX_MISC */
	char vendor[13];	/* CPUID.0 vendor string */
	u32 cpu_signature;	/* CPUID.1:EAX */
	u32 microcode;		/* microcode revision */
	u64 seed;		/* seed for the random test values */

	/* Derived and results. */
	u32 revision_id;
	u32 region_size;
	int reads_zero;		/* VMREAD of absent encodings returns 0 */
	unsigned int ncand;	/* encodings that VMREAD accepted */
	unsigned int nfields;
	struct vmcsinfo_field *fields;
	char err[192];		/* reason for a failed probe */

	/* Workspace, carved by vmcsinfo_probe_init(). */
	u16 *cand;
	u64 *vals;
	u8 *snap_a;
	u8 *snap_b;
	unsigned long *claimed;		/* bitmap of region bits owned by a field */
	unsigned long *volatile_bits;	/* bitmap of bits VMCLEAR scribbles on */
	unsigned long *suspect;		/* bitmap of bits under investigation */
	u64 rng;
};

/* Bytes of workspace that vmcsinfo_probe_init() needs. */
size_t vmcsinfo_workspace_size(void);

/* Attach a workspace of vmcsinfo_workspace_size() bytes, 8-byte aligned. */
void vmcsinfo_probe_init(struct vmcsinfo_probe *p, void *ws, size_t ws_size);

/*
 * VMXON, find the layout of every supported field, cross-check it with the
 * write path, verify it with a random round trip, VMXOFF.
 * Returns 0, or -EINVAL (bad capability MSR) / -EIO (probe or self-check
 * failed) with the reason in p->err.
 */
int vmcsinfo_probe_run(struct vmcsinfo_probe *p);

/* xorshift64*: the probe's random test values (state must be non-zero). */
u64 vmcsinfo_rand(u64 *state);

/* Decode field @f from VMCS region memory @vmcs with the found layout. */
u64 vmcsinfo_decode(const struct vmcsinfo_field *f, const u8 *vmcs);

/* 1 if @f is stored verbatim, little-endian, from a byte boundary. */
int vmcsinfo_field_is_plain(const struct vmcsinfo_field *f);

/* Linux's enum vmcs_field name of @enc, or NULL. */
const char *vmcsinfo_field_name(u32 enc);

/* Width in bits of the field with encoding @enc. */
unsigned int vmcsinfo_enc_width(u32 enc);

/*
 * Write the VMCSINFO text (CONTRACT 2, format 1) into @buf of @len bytes
 * (NUL-terminated when @len > 0).  Returns the text length without the NUL,
 * like snprintf, so a first call with len 0 sizes the buffer.
 */
size_t vmcsinfo_format(const struct vmcsinfo_probe *p, char *buf, size_t len);

#endif /* VMCSINFO_CORE_H */
