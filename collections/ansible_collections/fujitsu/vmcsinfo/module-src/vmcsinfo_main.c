// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmcsinfo: learn this CPU's in-memory VMCS layout at load time and export it
 * like VMCOREINFO, so that a crash dump's guest VMCS pages can be decoded.
 *
 *   /sys/kernel/vmcsinfo/note      "<phys addr> <size>" of an ELF note
 *                                  (name VMCSINFO, type 0) in its own pages
 *   /sys/kernel/vmcsinfo/vmcsinfo  the note's text (DESIGN.md CONTRACT 2)
 *
 * Both are root-only: the physical address would leak the KASLR offset.
 *
 * VMX ownership: if CR4.VMXE is already set another VMM (KVM) owns VMX on this
 * CPU and we touch nothing (-EBUSY).  Otherwise the whole VMXON..VMXOFF
 * window runs on one CPU with interrupts off, so KVM's hardware-enable IPI
 * cannot interleave with it; KVM enables VMX after we are gone.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/elf.h>
#include <linux/gfp.h>
#include <linux/highmem.h>
#include <linux/irqflags.h>
#include <linux/kobject.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/random.h>
#include <linux/smp.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/vmalloc.h>
#include <asm/asm.h>
#include <asm/io.h>
#include <asm/perf_event.h>
#include <asm/msr.h>
#include <asm/processor.h>
#include <asm/special_insns.h>
#include <asm/tlbflush.h>

#include "vmcsinfo_core.h"

#define VMCSINFO_NOTE_NAME	"VMCSINFO"
#define VMX_BASIC_32BIT_PA	BIT_ULL(48)
#define VMX_BASIC_MEMTYPE(b)	(((b) >> 50) & 0xf)
#define VMX_MEMTYPE_WB		6

struct vmx_ctx {
	u64 vmxon_pa;
	u64 vmcs_pa;
};

/*
 * Every VMX instruction in one asm-goto form, as KVM does: VMfailInvalid
 * (CF) and VMfailValid (ZF) jump to labels, and an exception-table fixup
 * turns a fault (#GP, #UD) into VMCSINFO_FAIL_FAULT instead of an oops with
 * interrupts off in VMX root operation. No asm-goto outputs (older compilers
 * lack them): VMREAD stores through a pointer.
 *
 * VMfailValid: the error number is in the current VMCS (SDM 31.4).
 */
static int vmx_error_number(void)
{
	u64 err = 0;

	asm goto("1: vmread %[enc], (%[val])\n\t"
		 "jc %l[invalid]\n\t"
		 "jz %l[valid]\n\t"
		 _ASM_EXTABLE(1b, %l[fault])
		 : : [enc] "r" ((u64)VMCSINFO_ENC_VM_INSTRUCTION_ERROR),
		   [val] "r" (&err)
		 : "cc", "memory"
		 : invalid, valid, fault);
	return err ? (int)err : VMCSINFO_FAIL_INVALID;
invalid:
valid:
fault:
	return VMCSINFO_FAIL_INVALID;
}

static int vmx_on(void *ctx)
{
	struct vmx_ctx *c = ctx;

	asm goto("1: vmxon %[pa]\n\t"
		 "jc %l[invalid]\n\t"
		 "jz %l[valid]\n\t"
		 _ASM_EXTABLE(1b, %l[fault])
		 : : [pa] "m" (c->vmxon_pa)
		 : "cc", "memory"
		 : invalid, valid, fault);
	return 0;
invalid:
valid:
	return VMCSINFO_FAIL_INVALID;
fault:
	return VMCSINFO_FAIL_FAULT;
}

static void vmx_off(void *ctx)
{
	asm goto("1: vmxoff\n\t"
		 _ASM_EXTABLE(1b, %l[fault])
		 : : : "cc", "memory" : fault);
	return;
fault:
	pr_err("VMXOFF faulted\n");
}

static int vmx_clear(void *ctx)
{
	struct vmx_ctx *c = ctx;

	asm goto("1: vmclear %[pa]\n\t"
		 "jc %l[invalid]\n\t"
		 "jz %l[valid]\n\t"
		 _ASM_EXTABLE(1b, %l[fault])
		 : : [pa] "m" (c->vmcs_pa)
		 : "cc", "memory"
		 : invalid, valid, fault);
	return 0;
invalid:
	return VMCSINFO_FAIL_INVALID;
valid:
	return vmx_error_number();
fault:
	return VMCSINFO_FAIL_FAULT;
}

static int vmx_ptrld(void *ctx)
{
	struct vmx_ctx *c = ctx;

	asm goto("1: vmptrld %[pa]\n\t"
		 "jc %l[invalid]\n\t"
		 "jz %l[valid]\n\t"
		 _ASM_EXTABLE(1b, %l[fault])
		 : : [pa] "m" (c->vmcs_pa)
		 : "cc", "memory"
		 : invalid, valid, fault);
	return 0;
invalid:
	return VMCSINFO_FAIL_INVALID;
valid:
	return vmx_error_number();
fault:
	return VMCSINFO_FAIL_FAULT;
}

static int vmx_read(void *ctx, u32 enc, u64 *val)
{
	u64 v = 0;

	asm goto("1: vmread %[enc], (%[val])\n\t"
		 "jc %l[invalid]\n\t"
		 "jz %l[valid]\n\t"
		 _ASM_EXTABLE(1b, %l[fault])
		 : : [enc] "r" ((u64)enc),
		   [val] "r" (&v)
		 : "cc", "memory"
		 : invalid, valid, fault);
	*val = v;
	return 0;
invalid:
	return VMCSINFO_FAIL_INVALID;
valid:
	return vmx_error_number();
fault:
	return VMCSINFO_FAIL_FAULT;
}

static int vmx_write(void *ctx, u32 enc, u64 val)
{
	asm goto("1: vmwrite %[val], %[enc]\n\t"
		 "jc %l[invalid]\n\t"
		 "jz %l[valid]\n\t"
		 _ASM_EXTABLE(1b, %l[fault])
		 : : [val] "r" (val),
		   [enc] "r" ((u64)enc)
		 : "cc", "memory"
		 : invalid, valid, fault);
	return 0;
invalid:
	return VMCSINFO_FAIL_INVALID;
valid:
	return vmx_error_number();
fault:
	return VMCSINFO_FAIL_FAULT;
}

static const struct vmcsinfo_ops vmx_ops = {
	.vmxon = vmx_on,
	.vmxoff = vmx_off,
	.vmclear = vmx_clear,
	.vmptrld = vmx_ptrld,
	.vmread = vmx_read,
	.vmwrite = vmx_write,
};

/* The exported note: one allocation, page aligned, physically contiguous. */
static void *vmcsinfo_note;
static size_t vmcsinfo_note_alloc;
static size_t vmcsinfo_note_size;
static char *vmcsinfo_text;
static size_t vmcsinfo_text_len;
static struct kobject *vmcsinfo_kobj;

static ssize_t note_show(struct kobject *kobj, struct kobj_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%llx %zx\n",
			  (unsigned long long)__pa(vmcsinfo_note),
			  vmcsinfo_note_size);
}

static struct kobj_attribute note_attr = __ATTR(note, 0400, note_show, NULL);

static ssize_t text_read(struct file *file, struct kobject *kobj,
			 struct bin_attribute *attr, char *buf, loff_t off,
			 size_t count)
{
	return memory_read_from_buffer(buf, count, &off, vmcsinfo_text,
				       vmcsinfo_text_len);
}

static struct bin_attribute text_attr = {
	.attr = { .name = "vmcsinfo", .mode = 0400 },
	.read = text_read,
};

static struct attribute *vmcsinfo_attrs[] = {
	&note_attr.attr,
	NULL,
};

static struct bin_attribute *vmcsinfo_bin_attrs[] = {
	&text_attr,
	NULL,
};

static const struct attribute_group vmcsinfo_group = {
	.attrs = vmcsinfo_attrs,
	.bin_attrs = vmcsinfo_bin_attrs,
};

/*
 * Build the ELF note (struct elf64_note, "VMCSINFO", text) followed by an empty
 * terminating header, as crash_core does for VMCOREINFO.
 */
static int build_note(const struct vmcsinfo_probe *p)
{
	size_t len = vmcsinfo_format(p, NULL, 0);
	size_t name_sz = sizeof(VMCSINFO_NOTE_NAME);
	size_t hdr = sizeof(struct elf64_note);
	struct elf64_note *nh;
	char *name;

	vmcsinfo_note_size = hdr + ALIGN(name_sz, 4) + ALIGN(len, 4);
	vmcsinfo_note_alloc = PAGE_ALIGN(vmcsinfo_note_size + hdr);
	vmcsinfo_note = alloc_pages_exact(vmcsinfo_note_alloc,
					  GFP_KERNEL | __GFP_ZERO);
	if (!vmcsinfo_note)
		return -ENOMEM;
	nh = vmcsinfo_note;
	nh->n_namesz = name_sz;
	nh->n_descsz = len;
	nh->n_type = 0;
	name = (char *)(nh + 1);
	memcpy(name, VMCSINFO_NOTE_NAME, name_sz);
	vmcsinfo_text = name + ALIGN(name_sz, 4);
	/* format NUL-terminates into the zeroed padding after the text */
	vmcsinfo_format(p, vmcsinfo_text, len + 1);
	vmcsinfo_text_len = len;
	text_attr.size = len;
	return 0;
}

/* Preconditions that need no VMX instruction; 0 or -errno with a log line. */
static int check_cpu(u64 *basic, u64 *misc)
{
	u64 feat;

	if (boot_cpu_data.x86_vendor != X86_VENDOR_INTEL ||
	    !(cpuid_ecx(1) & BIT(X86_FEATURE_VMX & 31))) {
		pr_info("not loaded: this CPU has no Intel VMX\n");
		return -ENODEV;
	}
	if (rdmsrl_safe(MSR_IA32_FEAT_CTL, &feat) ||
	    !(feat & FEAT_CTL_LOCKED) ||
	    !(feat & FEAT_CTL_VMX_ENABLED_OUTSIDE_SMX)) {
		pr_err("not loaded: firmware left VMX disabled (IA32_FEATURE_CONTROL %llx); enable VT-x in the firmware setup\n",
		       (unsigned long long)feat);
		return -EPERM;
	}
	if (rdmsrl_safe(MSR_IA32_VMX_BASIC, basic) ||
	    rdmsrl_safe(MSR_IA32_VMX_MISC, misc)) {
		pr_err("probe failed: cannot read the VMX capability MSRs\n");
		return -EIO;
	}
	if (VMX_BASIC_MEMTYPE(*basic) != VMX_MEMTYPE_WB) {
		pr_err("probe failed: VMCS memory type %llu is not write-back\n",
		       VMX_BASIC_MEMTYPE(*basic));
		return -EIO;
	}
	return 0;
}

static bool fixed_bits_ok(unsigned long val, u32 msr0, u32 msr1)
{
	u64 fixed0, fixed1;

	if (rdmsrl_safe(msr0, &fixed0) || rdmsrl_safe(msr1, &fixed1))
		return false;
	return (val & fixed0) == fixed0 && !(val & ~fixed1);
}

struct probe_run {
	struct vmcsinfo_probe *p;
	struct vmx_ctx ctx;
	int cpu;
	u64 ns;
	int rc;
};

/* Runs with interrupts off on one CPU: never sleeps, never allocates. */
static void probe_on_this_cpu(struct probe_run *run)
{
	struct vmcsinfo_probe *p = run->p;
	unsigned long cr4 = __read_cr4();
	u64 t0;

	u64 feat, basic;

	if (cr4 & X86_CR4_VMXE) {
		snprintf(p->err, sizeof(p->err),
			 "another hypervisor owns VMX on CPU %d (CR4.VMXE is set); load vmcsinfo before kvm_intel",
			 run->cpu);
		run->rc = -EBUSY;
		return;
	}
	/*
	 * check_cpu() read these before the task was pinned here: this is the
	 * CPU the probe runs on, so it is the one whose values count.
	 */
	if (rdmsrl_safe(MSR_IA32_FEAT_CTL, &feat) ||
	    !(feat & FEAT_CTL_LOCKED) ||
	    !(feat & FEAT_CTL_VMX_ENABLED_OUTSIDE_SMX) ||
	    rdmsrl_safe(MSR_IA32_VMX_BASIC, &basic) || basic != p->vmx_basic) {
		snprintf(p->err, sizeof(p->err),
			 "CPU %d differs from the CPU that was checked (IA32_FEATURE_CONTROL %llx, IA32_VMX_BASIC %llx)",
			 run->cpu, (unsigned long long)feat, (unsigned long long)basic);
		run->rc = -EIO;
		return;
	}
	if (!fixed_bits_ok(read_cr0(), MSR_IA32_VMX_CR0_FIXED0,
			   MSR_IA32_VMX_CR0_FIXED1) ||
	    !fixed_bits_ok(cr4 | X86_CR4_VMXE, MSR_IA32_VMX_CR4_FIXED0,
			   MSR_IA32_VMX_CR4_FIXED1)) {
		snprintf(p->err, sizeof(p->err),
			 "CR0/CR4 do not meet the VMX fixed bits on CPU %d",
			 run->cpu);
		run->rc = -EIO;
		return;
	}
	p->microcode = cpu_data(run->cpu).microcode;
	p->cpu_signature = cpuid_eax(1);

	intel_pt_handle_vmx(1);
	cr4_set_bits(X86_CR4_VMXE);
	t0 = ktime_get_ns();
	run->rc = vmcsinfo_probe_run(p);
	run->ns = ktime_get_ns() - t0;
	cr4_clear_bits(X86_CR4_VMXE);
	intel_pt_handle_vmx(0);
}

static int vmcsinfo_probe_cpu(void)
{
	size_t ws_size = vmcsinfo_workspace_size();
	struct vmcsinfo_probe *p;
	struct probe_run run = { };
	struct page *vmxon_page = NULL, *vmcs_page = NULL;
	unsigned long flags;
	void *ws;
	u64 basic, misc;
	gfp_t gfp = GFP_KERNEL | __GFP_ZERO;
	unsigned int n, plain = 0;
	int rc;

	rc = check_cpu(&basic, &misc);
	if (rc)
		return rc;
	if (basic & VMX_BASIC_32BIT_PA)
		gfp |= GFP_DMA32;

	p = kzalloc(sizeof(*p), GFP_KERNEL);
	ws = vmalloc(ws_size);
	vmxon_page = alloc_page(gfp);
	vmcs_page = alloc_page(gfp);
	if (!p || !ws || !vmxon_page || !vmcs_page) {
		rc = -ENOMEM;
		goto out;
	}
	vmcsinfo_probe_init(p, ws, ws_size);
	p->ops = &vmx_ops;
	p->ctx = &run.ctx;
	p->vmcs = page_address(vmcs_page);
	p->vmx_basic = basic;
	p->vmx_misc = misc;
	p->seed = get_random_u64();
	memcpy(p->vendor, boot_cpu_data.x86_vendor_id, sizeof(p->vendor) - 1);
	*(u32 *)page_address(vmxon_page) = (u32)(basic & 0x7fffffff);
	run.p = p;
	run.ctx.vmxon_pa = page_to_phys(vmxon_page);
	run.ctx.vmcs_pa = page_to_phys(vmcs_page);

	run.cpu = get_cpu();
	local_irq_save(flags);
	probe_on_this_cpu(&run);
	local_irq_restore(flags);
	put_cpu();

	rc = run.rc;
	if (rc == -EBUSY) {
		pr_info("not loaded: %s\n", p->err);
		goto out;
	}
	if (rc) {
		pr_err("probe failed on CPU %d after %llu us: %s\n", run.cpu,
		       div_u64(run.ns, 1000), p->err);
		rc = rc == -EINVAL ? -EIO : rc;
		goto out;
	}
	rc = build_note(p);
	if (rc)
		goto out;
	for (n = 0; n < p->nfields; n++)
		plain += vmcsinfo_field_is_plain(&p->fields[n]);
	pr_info("probed %u fields (%u FIELD, %u BITS), revision %x, region %u bytes, on CPU %d in %llu us\n",
		p->nfields, plain, p->nfields - plain, p->revision_id,
		p->region_size, run.cpu, div_u64(run.ns, 1000));
out:
	/*
	 * The VMCS page holds a VMCS in this CPU's format, the VMXON region its
	 * revision id: cleared, so that no dump ever shows them as a guest's.
	 */
	if (vmcs_page) {
		clear_highpage(vmcs_page);
		__free_page(vmcs_page);
	}
	if (vmxon_page) {
		clear_highpage(vmxon_page);
		__free_page(vmxon_page);
	}
	vfree(ws);
	kfree(p);
	return rc;
}

/*
 * The note is found by its header in page starts: cleared before its pages
 * are freed, or full dumps (free pages kept) would find a stale one.
 */
static void vmcsinfo_free_note(void)
{
	memzero_explicit(vmcsinfo_note, vmcsinfo_note_alloc);
	free_pages_exact(vmcsinfo_note, vmcsinfo_note_alloc);
	vmcsinfo_note = NULL;
}

static int __init vmcsinfo_init(void)
{
	int rc = vmcsinfo_probe_cpu();

	if (rc)
		return rc;
	vmcsinfo_kobj = kobject_create_and_add("vmcsinfo", kernel_kobj);
	if (!vmcsinfo_kobj) {
		rc = -ENOMEM;
		goto err_note;
	}
	rc = sysfs_create_group(vmcsinfo_kobj, &vmcsinfo_group);
	if (rc)
		goto err_kobj;
	return 0;

err_kobj:
	kobject_put(vmcsinfo_kobj);
err_note:
	vmcsinfo_free_note();
	pr_err("cannot create /sys/kernel/vmcsinfo: %d\n", rc);
	return rc;
}

static void __exit vmcsinfo_exit(void)
{
	sysfs_remove_group(vmcsinfo_kobj, &vmcsinfo_group);
	kobject_put(vmcsinfo_kobj);
	vmcsinfo_free_note();
}

module_init(vmcsinfo_init);
module_exit(vmcsinfo_exit);

MODULE_DESCRIPTION("Find the VMCS field layout of this CPU and export it as VMCSINFO");
MODULE_AUTHOR("fujitsu.vmcsinfo developers");
MODULE_LICENSE("GPL");
/* The collection's version (galaxy.yml), as dkms.conf: tests/unit/test_module_src.py */
MODULE_VERSION("0.1.0");
