/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A simulated VMX CPU (DESIGN.md CONTRACT 3) behind struct vmcsinfo_ops, so
 * the probe core that runs in the kernel module runs unchanged in userspace.
 */
#ifndef VMCSINFO_SIM_CPU_H
#define VMCSINFO_SIM_CPU_H

#include "../vmcsinfo_core.h"

#define SIM_NONE	(-1)

struct sim_field {
	u32 enc;
	unsigned int width;
	int pos[64];		/* region bit of each field bit, or SIM_NONE */
	int mirror[64];		/* extra bit VMCLEAR also writes, or SIM_NONE */
	u64 stored;		/* mask of field bits that have a position */
	u64 val;		/* the loaded (current VMCS) copy */
};

struct sim_scribble {
	u32 start, end;		/* byte range [start, end) */
};

struct sim_cpu {
	/* the simulated CPU, from LAYOUT.json or the sim_* builders */
	u32 revision_id;
	u32 region_size;
	u64 vmx_misc;
	char vendor[13];
	u32 cpu_signature;
	u32 microcode;
	int absent_reads_zero;
	unsigned int nfields, cap_fields;
	struct sim_field *fields;
	unsigned int nscribble, cap_scribble;
	struct sim_scribble *scribble;
	int index[VMCSINFO_ENC_SPACE];	/* FULL encoding -> fields[] */

	/* machine state */
	u8 *mem;		/* the VMCS region (the probe's buffer) */
	int in_vmx;
	int current;
	u64 rng;

	/* failure injection: fail the Nth call (1-based; 0 = never) */
	unsigned long fail_vmxon_at, fail_vmptrld_at, fail_vmclear_at;
	/* fault injection: the Nth call faults (#GP/#UD, what the kernel's
	 * exception-table fixups turn into VMCSINFO_FAIL_FAULT)
	 */
	unsigned long fault_vmxon_at, fault_vmclear_at, fault_vmptrld_at;
	unsigned long fault_vmread_at, fault_vmwrite_at;
	/* instruction counts */
	unsigned long n_vmxon, n_vmclear, n_vmptrld, n_vmread, n_vmwrite;
};

extern const struct vmcsinfo_ops sim_ops;

/* Builders. Each returns 0 or -1 with a message in err. */
void sim_init(struct sim_cpu *c, u32 revision_id, u32 region_size,
	      u64 vmx_misc);
int sim_add_field(struct sim_cpu *c, u32 enc, const int *pos,
		  char *err, size_t errlen);
int sim_add_field_at(struct sim_cpu *c, u32 enc, u32 offset,
		     char *err, size_t errlen);
/*
 * Test-only quirk (not in LAYOUT.json): VMCLEAR also writes bit @bit of field
 * @enc to region bit @pos, which VMPTRLD never reads.  Only the probe's write
 * path can see such a copy.
 */
int sim_add_mirror(struct sim_cpu *c, u32 enc, unsigned int bit, int pos,
		   char *err, size_t errlen);
int sim_add_scribble(struct sim_cpu *c, u32 start, u32 end,
		     char *err, size_t errlen);
void sim_free(struct sim_cpu *c);

/* Parse LAYOUT.json text (CONTRACT 3). 0, or -1 with a message in err. */
int sim_load_json(struct sim_cpu *c, const char *text, char *err,
		  size_t errlen);

/* IA32_VMX_BASIC as the simulated CPU reports it. */
u64 sim_vmx_basic(const struct sim_cpu *c);

/* Fill the probe's inputs for this CPU and allocate its region/workspace. */
int sim_probe_setup(struct sim_cpu *c, struct vmcsinfo_probe *p, u64 seed);
void sim_probe_teardown(struct vmcsinfo_probe *p);

#endif /* VMCSINFO_SIM_CPU_H */
